module github.com/mlxconv/mlxconv

go 1.25.0

require (
	github.com/ebitengine/purego v0.11.3 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/stretchr/testify v1.11.1 // indirect
)
