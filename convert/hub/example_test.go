package hub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/convert/hub"
	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

// ExampleClient_Source converts a model straight from the Hub, as
// `mlxconv convert --hf-path ORG/REPO -q`: config.json and the index are
// downloaded first and checked by convert.Preflight, then the weights, into
// the huggingface_hub cache. Here an in-process fake stands in for
// https://huggingface.co; drop Endpoint (and Getenv) to use the real Hub
// with HF_TOKEN, HF_HUB_CACHE and HF_HUB_OFFLINE from the environment.
func ExampleClient_Source() {
	fake := hubtest.Start()
	defer fake.Close()
	files := map[string][]byte{}
	for _, name := range []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/tiny-llama", name))
		if err != nil {
			fmt.Println(err)
			return
		}
		files[name] = b
	}
	fake.AddRepo("mlxconv/tiny-llama", files)

	tmp, err := os.MkdirTemp("", "mlxconv-hub-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp)
	client, err := hub.New(hub.Options{
		Endpoint: fake.URL,
		CacheDir: filepath.Join(tmp, "hf-cache"),
		Getenv:   func(string) string { return "" }, // ignore HF_* of the caller
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, err := convert.Run(context.Background(), convert.Options{
		HFPath:     "mlxconv/tiny-llama",
		MLXPath:    filepath.Join(tmp, "tiny-llama-4bit"),
		Quantize:   true,
		ResolveHub: client.Source(convert.Preflight),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sum.ModelType, sum.Quantization)
	// Output:
	// llama affine 4-bit, group 64
}
