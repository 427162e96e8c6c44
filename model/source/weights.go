package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// LoadWeights reads the safetensors headers of the model directory dir the
// way LoadInventory does (the shards model.safetensors.index.json names,
// else every model*.safetensors), to describe a model rather than convert
// it: config.json is read when present (a malformed one is an error) but
// its model_type is not checked, and neither the side configs nor the aux
// files are read. The readers' errors name the shards quoted. The shards
// stay open until Close.
func LoadWeights(dir string) (*Inventory, error) {
	inv := &Inventory{Dir: dir}
	cfg, err := readConfig(dir)
	switch {
	case err == nil:
		inv.Config = cfg
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", model.ErrWeights, err)
	}
	if inv.Files, err = shardFiles(dir, entries); err != nil {
		return nil, err
	}
	if err := inv.openShards(strconv.Quote); err != nil {
		inv.Close()
		return nil, err
	}
	return inv, nil
}

// FileSize returns the size in bytes of shard i of an inventory from
// LoadInventory or LoadWeights (0 for an in-memory one).
func (inv *Inventory) FileSize(i int) int64 {
	if i < 0 || i >= len(inv.readers) {
		return 0
	}
	return inv.readers[i].Size()
}

// Metadata returns the __metadata__ map of shard i (nil when absent or for
// an in-memory inventory).
func (inv *Inventory) Metadata(i int) map[string]string {
	if i < 0 || i >= len(inv.readers) {
		return nil
	}
	return inv.readers[i].Metadata()
}
