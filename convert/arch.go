package convert

import (
	"github.com/mlxconv/mlxconv/model"
)

// The MLX parameter tree and config accessor are the model package's;
// the families live in model/family, one file each.
type (
	modelSpec  = model.Tree
	moduleSpec = model.Module
	paramSpec  = model.Param
	config     = model.Config
)

const (
	kindOther        = model.KindOther
	kindLinear       = model.KindLinear
	kindEmbedding    = model.KindEmbedding
	kindSwitchLinear = model.KindSwitchLinear
)

var (
	newConfig   = model.NewConfig
	describe    = model.Describe
	cloneValue  = model.CloneValue
	truthy      = model.Truthy
	parseObject = model.ParseObject
	joinName    = model.JoinName
)
