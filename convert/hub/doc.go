// Package hub is mlxconv's Hugging Face Hub client: it downloads model
// repos into the cache huggingface_hub uses (so Python and mlxconv share
// files), uploads converted models, and writes mlx-lm style model cards.
//
// # Contract
//
//   - Configuration follows huggingface_hub: HF_ENDPOINT, HF_TOKEN (or
//     HUGGING_FACE_HUB_TOKEN, or the token file at HF_TOKEN_PATH /
//     $HF_HOME/token), HF_HUB_OFFLINE, HF_HUB_CACHE / HF_HOME,
//     HF_HUB_DISABLE_IMPLICIT_TOKEN, HF_HUB_DOWNLOAD_TIMEOUT. Everything is
//     read through Options.Getenv, so tests inject it.
//   - Cache layout (identical to huggingface_hub's):
//     <cache>/models--org--name/{blobs/<etag>, snapshots/<commit>/<path> →
//     relative symlink to ../../blobs/<etag>, refs/<revision>,
//     trees/<commit>.json, .no_exist/<commit>/<path>} and
//     <cache>/.locks/models--org--name/<etag>.lock (flock, shared with
//     Python). The etag is the sha256 for LFS files and the git blob id
//     for others.
//   - Repo types: models by default; DownloadOptions, UploadOptions and
//     CreateRepoOptions take a RepoType (dataset, space) for the
//     /api/datasets/…, /datasets/{repo}/resolve/… and
//     /datasets/{repo}.git/… paths and the datasets--org--name cache
//     folder (spaces alike).
//   - Downloads: only the selected files (DefaultAllowPatterns: mlx-lm's
//     plus chat templates), in parallel (Options.Workers), resumable (a
//     partial blobs/<etag>.incomplete is continued with HTTP Range), and
//     verified before anything appears in snapshots/: sha256 for LFS
//     files, the git blob id (or at least the size) for others. A file
//     failing verification is deleted, never linked. Preflight (see
//     DownloadOptions and Client.Resolve) runs on config.json, the index
//     and the tokenizer files before any weight byte is requested.
//   - Uploads: CreateRepo (exist ok), then UploadFolder: preupload decides
//     LFS vs regular, files already on the Hub with the same content are
//     skipped, LFS objects go through the LFS batch API (basic or
//     multipart; objects the Hub has are not re-sent), then one NDJSON
//     commit.
//   - Security: file names from the Hub are validated (ValidateFilename:
//     no "..", absolute paths, backslashes, drive letters or control
//     characters) before any path is built; hashes and commit ids used as
//     path elements are validated as hex. The token is attached only to
//     requests whose origin (scheme, host, port) is the endpoint's; the
//     client follows redirects itself, so a redirect to a CDN or storage
//     host never carries it. The token never appears in errors or events
//     (server messages echoing it are scrubbed) and URLs in errors lose
//     their query (signed URLs). Plain http is refused unless the endpoint
//     (or redirect target) is a loopback host.
//   - Failures: 408, 429, 5xx and transient network errors (timeouts,
//     resets, EOF mid-body) are retried with bounded exponential backoff
//     (Retry-After honoured, capped); a stall longer than IdleTimeout
//     aborts and resumes the transfer. What retrying cannot fix is
//     returned after the first attempt: other 4xx, a host name that does
//     not exist or a refused loopback endpoint (ErrUnreachable), a TLS
//     failure (ErrTLS). Retry events carry the loop's limits (Retries,
//     Budget) so a caller can announce them once. HTTP errors
//     are *HTTPError wrapping sentinels (ErrUnauthorized, ErrRepoNotFound,
//     ErrGated, ErrRateLimited, …) with an actionable hint.
//   - Progress is reported through Options.Progress; the package never
//     prints.
//
// The fake Hub used by the tests is the importable package hubtest.
package hub
