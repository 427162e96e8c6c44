package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/mlxconv/mlxconv/internal/modelcard"
)

// CardInfo describes the model card (README.md) of a converted model (see
// package internal/modelcard for the fields).
type CardInfo = modelcard.Info

// ModelCard renders README.md like mlx-lm's create_model_card +
// upload_to_hub: the source card's front matter (license, language,
// datasets, …) kept with base_model, library_name: mlx, pipeline_tag:
// text-generation and the mlx (or gguf) tag set; then the title, a
// provenance line naming mlxconv, the recipe and a usage section.
func ModelCard(info CardInfo) ([]byte, error) {
	if info.BaseModel != "" {
		if err := ValidateRepoID(info.BaseModel); err != nil {
			return nil, err
		}
	}
	if info.Repo != "" {
		if err := ValidateRepoID(info.Repo); err != nil {
			return nil, err
		}
	}
	out, err := modelcard.Render(info)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

// WriteModelCard writes ModelCard(info) to dir/README.md.
func WriteModelCard(dir string, info CardInfo) error {
	data, err := ModelCard(info)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "README.md"), data)
}

// PrepareUploadCard readies dir/README.md for an upload to repo, like
// mlx-lm's upload_to_hub: a card whose front matter says library_name: mlx
// (one mlxconv or mlx-lm wrote) keeps its metadata and recipe and gets the
// title and usage for repo; a missing card is created (a GGUF card when
// the folder holds .gguf files and no safetensors); any other card is the
// user's and is left alone. It reports whether the file was written.
func PrepareUploadCard(dir, repo, version string) (bool, error) {
	if err := ValidateRepoID(repo); err != nil {
		return false, err
	}
	p := filepath.Join(dir, "README.md")
	data, err := readSmall(p, modelcard.MaxSourceSize)
	if errors.Is(err, fs.ErrNotExist) {
		return true, WriteModelCard(dir, CardInfo{Format: folderFormat(dir), Repo: repo, Version: version})
	}
	if err != nil {
		return false, err
	}
	base, mlxCard := "", false
	for _, e := range modelcard.Meta(string(data)) {
		switch {
		case e.Key == "base_model" && ValidateRepoID(e.Scalar()) == nil:
			base = e.Scalar()
		case e.Key == "library_name" && e.Scalar() == "mlx":
			mlxCard = true
		}
	}
	if !mlxCard {
		return false, nil
	}
	out, err := ModelCard(CardInfo{BaseModel: base, Source: data, Repo: repo, Version: version,
		Command: modelcard.Command(string(data)), RecipeText: modelcard.RecipeSection(string(data))})
	if err != nil {
		return false, err
	}
	if bytes.Equal(out, data) {
		return false, nil
	}
	return true, writeFileAtomic(p, out)
}

// folderFormat is GGUF for a folder of .gguf files without safetensors.
func folderFormat(dir string) modelcard.Format {
	gg, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	st, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(gg) > 0 && len(st) == 0 {
		return modelcard.GGUF
	}
	return modelcard.MLX
}
