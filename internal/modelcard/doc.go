// Package modelcard renders the README.md model card of a converted model:
// the source card's YAML front matter kept (license, license_link,
// language, datasets, tags, any other key), with base_model,
// library_name, pipeline_tag and the format's tag (mlx or gguf) set as
// mlx-lm's create_model_card sets them, and a body holding the provenance,
// the exact conversion recipe and a usage snippet.
//
// It only renders bytes: reading the source card, validating repo ids and
// writing the file are the callers' (convert, convert/hub).
package modelcard
