package hub

import (
	"fmt"
	"strings"
)

// RepoType is the kind of a Hub repo. The zero value is a model repo.
type RepoType string

// The repo types the Hub knows (huggingface_hub's REPO_TYPES).
const (
	RepoModel   RepoType = "model"
	RepoDataset RepoType = "dataset"
	RepoSpace   RepoType = "space"
)

// ParseRepoType reads "model", "dataset" or "space" ("" is a model).
func ParseRepoType(s string) (RepoType, error) {
	switch t := RepoType(strings.TrimSpace(s)); t {
	case "", RepoModel:
		return RepoModel, nil
	case RepoDataset, RepoSpace:
		return t, nil
	}
	return "", fmt.Errorf("%w: repo type %q: want model, dataset or space", ErrInvalid, s)
}

// check reports a RepoType that is none of the known ones.
func (t RepoType) check() error {
	_, err := ParseRepoType(string(t))
	return err
}

// String is the type's name ("model" for the zero value).
func (t RepoType) String() string {
	if t == "" {
		return string(RepoModel)
	}
	return string(t)
}

// apiPath is the API prefix of repo: /api/models/org/name,
// /api/datasets/org/name or /api/spaces/org/name.
func (t RepoType) apiPath(repo string) string { return "/api/" + t.String() + "s/" + repo }

// webPath is the repo's path on the Hub site, which also prefixes its
// resolve and git URLs: /org/name for a model, /datasets/org/name and
// /spaces/org/name otherwise.
func (t RepoType) webPath(repo string) string {
	if t.String() == string(RepoModel) {
		return "/" + repo
	}
	return "/" + t.String() + "s/" + repo
}

// folderName is the repo's cache folder: "models--org--name",
// "datasets--org--name" or "spaces--org--name".
func (t RepoType) folderName(repo string) string {
	return t.String() + "s--" + strings.ReplaceAll(repo, "/", "--")
}
