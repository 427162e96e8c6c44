package gguf

// Unexported names the external tests (package gguf_test) use.
var (
	ShardPath = shardPath
	TypeCount = typeCount
)
