package modelinfo

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/model/source"
)

// OpenFile reads the header of the safetensors file at path and describes
// it (no config: affine quantization is reported as unknown). Only the
// header is read. Errors name the file quoted.
func OpenFile(path string) (Report, error) {
	f, err := fsx.OpenRegular(path) // a FIFO is refused, not waited on
	if err != nil {
		return Report{}, quotePath(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Report{}, quotePath(path, err)
	}
	rd, err := safetensors.NewReader(f, st.Size(), safetensors.WithName(strconv.Quote(path)))
	if err != nil {
		return Report{}, err
	}
	infos := rd.Tensors()
	tensors := make([]Tensor, len(infos))
	for i, t := range infos {
		tensors[i] = Tensor{Name: t.Name, DType: t.DType, Type: t.DType.SafetensorsName(), Shape: t.Shape, Bytes: t.Size()}
	}
	files := []File{{Name: filepath.Base(path), Size: st.Size(), Tensors: len(tensors), Metadata: rd.Metadata()}}
	return Describe(path, KindFile, files, tensors, nil), nil
}

// OpenDir reads the model folder dir with source.LoadWeights (config.json
// when present, the shards its index names or model*.safetensors) and
// describes it. Only headers are read.
func OpenDir(dir string) (Report, error) {
	inv, err := source.LoadWeights(dir)
	if err != nil {
		return Report{}, err
	}
	defer inv.Close()
	files := make([]File, len(inv.Files))
	for i, name := range inv.Files {
		files[i] = File{Name: name, Size: inv.FileSize(i), Metadata: inv.Metadata(i)}
	}
	tensors := make([]Tensor, len(inv.Tensors))
	for i, t := range inv.Tensors {
		files[t.File].Tensors++
		tensors[i] = Tensor{Name: t.Name, DType: t.DType, Type: t.DType.SafetensorsName(), Shape: t.Shape,
			Bytes: source.NumElements(t.Shape) * int64(t.DType.Size()), File: inv.Files[t.File]}
	}
	return Describe(dir, KindModel, files, tensors, inv.Config), nil
}

// quotePath names path quoted in err: a *fs.PathError's own (unquoted)
// path is replaced; an error that already quotes it is returned as is.
func quotePath(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%q: %s: %w", path, pe.Op, pe.Err)
	}
	var nr *fsx.NotRegularError
	if errors.As(err, &nr) {
		return err
	}
	return fmt.Errorf("%q: %w", path, err)
}
