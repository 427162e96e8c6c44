package convert

import "github.com/mlxconv/mlxconv/model"

// The MLX parameter tree and config accessor are the model package's;
// the families live in model/family, one file each, and the checkpoint
// layer in model/source.
type (
	modelSpec = model.Tree
	config    = model.Config
)

var (
	newConfig   = model.NewConfig
	parseObject = model.ParseObject
	joinName    = model.JoinName
)
