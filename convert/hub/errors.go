package hub

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one (or several) of
// these; test with errors.Is.
var (
	// ErrInvalid: a malformed repo id, revision or argument.
	ErrInvalid = errors.New("hub: invalid argument")
	// ErrInsecureEndpoint: the endpoint (or a redirect) is plain http to a
	// non-loopback host, or carries credentials.
	ErrInsecureEndpoint = errors.New("hub: insecure endpoint")
	// ErrUnsafePath: a file name from the Hub (or a local folder) that could
	// escape its directory.
	ErrUnsafePath = errors.New("hub: unsafe file name")
	// ErrFormat: a malformed response from the Hub.
	ErrFormat = errors.New("hub: malformed response")
	// ErrIntegrity: downloaded bytes do not match the Hub's size or hash.
	ErrIntegrity = errors.New("hub: integrity check failed")
	// ErrTimeout: the server stopped sending data for longer than the idle
	// timeout.
	ErrTimeout = errors.New("hub: timeout")
	// ErrOffline: the cache cannot satisfy a request and the network is
	// disabled (HF_HUB_OFFLINE) or unreachable.
	ErrOffline = errors.New("hub: not in the local cache and offline")
	// ErrUnreachable: the endpoint cannot be reached and retrying will not
	// help: its host name does not resolve ("no such host"), or a loopback
	// endpoint refuses the connection. Not retried.
	ErrUnreachable = errors.New("hub: cannot reach the Hub")
	// ErrTLS: the TLS handshake failed (an untrusted or mismatched
	// certificate, or a server that does not speak TLS). Not retried.
	ErrTLS = errors.New("hub: TLS handshake failed")
	// ErrIncomplete: a cached snapshot lacks files its listing names.
	ErrIncomplete = errors.New("hub: cached snapshot is incomplete")

	// HTTP outcomes, carried by *HTTPError.
	ErrUnauthorized     = errors.New("hub: unauthorized (401)")
	ErrForbidden        = errors.New("hub: forbidden (403)")
	ErrRepoNotFound     = errors.New("hub: repository not found")
	ErrRevisionNotFound = errors.New("hub: revision not found")
	ErrEntryNotFound    = errors.New("hub: file not found in repository")
	ErrGated            = errors.New("hub: gated repository")
	ErrRateLimited      = errors.New("hub: rate limited (429)")
	ErrServer           = errors.New("hub: server error")
	ErrConflict         = errors.New("hub: conflict (409)")
)

// HTTPError is a non-success HTTP response. Its text names the method, the
// URL without its query (signed URLs carry credentials in the query), the
// status, the Hub's X-Error-Code / X-Error-Message, and a hint; it never
// contains the token.
type HTTPError struct {
	Method  string
	URL     string // scheme://host/path, query removed
	Status  int
	Code    string // X-Error-Code
	Message string // X-Error-Message or a short body excerpt, sanitized
	Hint    string
	// RepoCommit is the X-Repo-Commit header, sent by the Hub even with a
	// 404 for a missing file (it lets the cache record the absence).
	RepoCommit string
	kinds      []error
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; %s", e.Hint)
	}
	return b.String()
}

// Unwrap returns the sentinels this response maps to (e.g. ErrUnauthorized
// and ErrRepoNotFound for a 401 on a missing or private repo).
func (e *HTTPError) Unwrap() []error { return e.kinds }

// newHTTPError classifies a failed response. sentToken tells whether the
// request carried the token, which changes the hint for 401/404.
func newHTTPError(method, rawURL string, resp *http.Response, body []byte, sentToken bool, token string) *HTTPError {
	e := &HTTPError{
		Method: method,
		URL:    redactURL(rawURL),
		Status: resp.StatusCode,
		Code:   sanitizeText(resp.Header.Get("X-Error-Code"), 64, token),
	}
	if rc := resp.Header.Get("X-Repo-Commit"); IsCommitHash(rc) {
		e.RepoCommit = rc
	}
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" {
		msg = errorFromBody(body)
	}
	e.Message = sanitizeText(msg, 300, token)
	if kind, ok := codeKinds[e.Code]; ok {
		e.kinds = append(e.kinds, kind)
	}
	e.classifyStatus(msg, sentToken)
	return e
}

// codeKinds maps the Hub's X-Error-Code values to error kinds.
var codeKinds = map[string]error{
	"RepoNotFound":     ErrRepoNotFound,
	"RevisionNotFound": ErrRevisionNotFound,
	"EntryNotFound":    ErrEntryNotFound,
	"GatedRepo":        ErrGated,
}

// classifyStatus adds the error kind of e's status and a hint for the
// user; msg is the server's (unsanitized) error message.
func (e *HTTPError) classifyStatus(msg string, sentToken bool) {
	switch s := e.Status; {
	case s == http.StatusUnauthorized:
		e.kinds = append(e.kinds, ErrUnauthorized)
		e.Hint = unauthorizedHint(msg, sentToken)
	case s == http.StatusForbidden:
		e.kinds = append(e.kinds, ErrForbidden)
		e.Hint = forbiddenHint(e.Code)
	case s == http.StatusNotFound:
		if len(e.kinds) == 0 {
			e.kinds = append(e.kinds, ErrRepoNotFound)
		}
		e.Hint = notFoundHint(e.Code)
	case s == http.StatusConflict:
		e.kinds = append(e.kinds, ErrConflict)
	case s == http.StatusTooManyRequests:
		e.kinds = append(e.kinds, ErrRateLimited)
		e.Hint = "the Hub rate-limited this client; retries were exhausted, try again later (logged-in requests get higher limits)"
	case s >= 500:
		e.kinds = append(e.kinds, ErrServer)
		e.Hint = "the Hub had a server error; retries were exhausted, try again later"
	}
}

func unauthorizedHint(msg string, sentToken bool) string {
	switch {
	case msg == "Invalid credentials in Authorization header":
		return "the token was rejected: check HF_TOKEN or run `hf auth login` again"
	case sentToken:
		return "the repository does not exist, or the token has no access to it"
	default:
		return "the repository does not exist, or it is private or gated: set HF_TOKEN (or log in with `hf auth login`)"
	}
}

func forbiddenHint(code string) string {
	if code == "GatedRepo" {
		return "the repository is gated: accept its conditions on the Hub with the account of the token"
	}
	return "the token lacks the permission (a write token is needed to create repos and upload)"
}

func notFoundHint(code string) string {
	switch code {
	case "RevisionNotFound":
		return "no such branch, tag or commit"
	case "EntryNotFound":
		return "no such file at this revision"
	default:
		return "check the repo id"
	}
}

// errorFromBody extracts {"error": "..."} from a JSON body, or returns the
// beginning of the body.
func errorFromBody(body []byte) string {
	s := strings.TrimSpace(string(body))
	if i := strings.Index(s, `"error":"`); i >= 0 {
		rest := s[i+len(`"error":"`):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return rest[:j]
		}
	}
	if strings.HasPrefix(s, "<") { // HTML error pages are noise
		return ""
	}
	return s
}

// sanitizeText removes control characters and the token, and bounds the
// length of server-supplied text placed in errors.
func sanitizeText(s string, max int, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, "***")
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
