// Command moegen writes the MoE benchmark checkpoint of scripts/bench/moe.sh:
// a Qwen3-MoE-shaped bf16 model in the Hugging Face layout (per-expert
// tensors, many safetensors shards and model.safetensors.index.json), sized
// by its layer count. Values are pseudo-random bf16 of magnitude about 0.01
// (a fixed xorshift stream per tensor), so the output is deterministic and
// generation runs at disk speed.
//
//	go run ./scripts/bench/moegen -out DIR -layers N [-experts 64] [-shard-size 4GB]
//
// It is benchmark support, not part of mlxconv.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

type tensor struct {
	name  string
	shape []int
}

func (t tensor) bytes() int64 {
	n := int64(2)
	for _, d := range t.shape {
		n *= int64(d)
	}
	return n
}

type dims struct {
	hidden, heads, kvHeads, headDim, experts, moeInter, vocab, layers int
}

// tensors lists the checkpoint in the order transformers saves it.
func (d dims) tensors() []tensor {
	ts := []tensor{{"model.embed_tokens.weight", []int{d.vocab, d.hidden}}}
	for l := 0; l < d.layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		ts = append(ts,
			tensor{p + ".input_layernorm.weight", []int{d.hidden}},
			tensor{p + ".post_attention_layernorm.weight", []int{d.hidden}},
			tensor{p + ".self_attn.q_proj.weight", []int{d.heads * d.headDim, d.hidden}},
			tensor{p + ".self_attn.k_proj.weight", []int{d.kvHeads * d.headDim, d.hidden}},
			tensor{p + ".self_attn.v_proj.weight", []int{d.kvHeads * d.headDim, d.hidden}},
			tensor{p + ".self_attn.o_proj.weight", []int{d.hidden, d.heads * d.headDim}},
			tensor{p + ".self_attn.q_norm.weight", []int{d.headDim}},
			tensor{p + ".self_attn.k_norm.weight", []int{d.headDim}},
			tensor{p + ".mlp.gate.weight", []int{d.experts, d.hidden}},
		)
		for e := 0; e < d.experts; e++ {
			q := p + ".mlp.experts." + strconv.Itoa(e)
			ts = append(ts,
				tensor{q + ".gate_proj.weight", []int{d.moeInter, d.hidden}},
				tensor{q + ".up_proj.weight", []int{d.moeInter, d.hidden}},
				tensor{q + ".down_proj.weight", []int{d.hidden, d.moeInter}},
			)
		}
	}
	return append(ts, tensor{"model.norm.weight", []int{d.hidden}}, tensor{"lm_head.weight", []int{d.vocab, d.hidden}})
}

func main() {
	out := flag.String("out", "", "output directory (created)")
	var d dims
	flag.IntVar(&d.layers, "layers", 4, "decoder layers")
	flag.IntVar(&d.experts, "experts", 64, "experts per layer")
	flag.IntVar(&d.hidden, "hidden", 2048, "hidden size")
	flag.IntVar(&d.moeInter, "moe-intermediate", 768, "expert intermediate size")
	flag.IntVar(&d.vocab, "vocab", 32000, "vocabulary size")
	shardSize := flag.Int64("shard-size", 4<<30, "largest shard in bytes")
	flag.Parse()
	d.heads, d.kvHeads, d.headDim = 16, 4, 128
	if *out == "" {
		fmt.Fprintln(os.Stderr, "moegen: -out is required")
		os.Exit(2)
	}
	if err := run(*out, d, *shardSize); err != nil {
		fmt.Fprintln(os.Stderr, "moegen:", err)
		os.Exit(1)
	}
}

func run(out string, d dims, shardSize int64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var shards [][]tensor
	var cur []tensor
	var size, total int64
	for _, t := range d.tensors() {
		if len(cur) > 0 && size+t.bytes() > shardSize {
			shards = append(shards, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += t.bytes()
		total += t.bytes()
	}
	shards = append(shards, cur)
	weightMap := map[string]string{}
	for i, s := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := writeShard(filepath.Join(out, name), s); err != nil {
			return err
		}
		for _, t := range s {
			weightMap[t.name] = name
		}
	}
	index := map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}
	if err := writeJSON(filepath.Join(out, "model.safetensors.index.json"), index); err != nil {
		return err
	}
	return writeJSON(filepath.Join(out, "config.json"), config(d))
}

func config(d dims) map[string]any {
	return map[string]any{
		"architectures": []string{"Qwen3MoeForCausalLM"}, "attention_bias": false, "attention_dropout": 0.0,
		"bos_token_id": 1, "eos_token_id": 2, "decoder_sparse_step": 1, "head_dim": d.headDim,
		"hidden_act": "silu", "hidden_size": d.hidden, "initializer_range": 0.02, "intermediate_size": 6144,
		"max_position_embeddings": 32768, "max_window_layers": d.layers, "mlp_only_layers": []int{},
		"model_type": "qwen3_moe", "moe_intermediate_size": d.moeInter, "norm_topk_prob": true,
		"num_attention_heads": d.heads, "num_experts": d.experts, "num_experts_per_tok": 8,
		"num_hidden_layers": d.layers, "num_key_value_heads": d.kvHeads, "output_router_logits": false,
		"rms_norm_eps": 1e-06, "rope_scaling": nil, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001,
		"sliding_window": nil, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
		"transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false, "vocab_size": d.vocab,
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeShard writes one safetensors file; tensor data is generated in
// parallel chunks and written in order.
func writeShard(path string, ts []tensor) error {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, t := range ts {
		header[t.name] = map[string]any{"dtype": "BF16", "shape": t.shape, "data_offsets": []int64{off, off + t.bytes()}}
		off += t.bytes()
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hb)))
	if _, err := f.Write(append(n[:], hb...)); err != nil {
		f.Close()
		return err
	}
	buf := make([]byte, 0, 64<<20)
	flush := func() error {
		_, err := f.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, t := range ts {
		seed := fnv.New64a()
		seed.Write([]byte(t.name))
		s := seed.Sum64() | 1
		for left := t.bytes(); left > 0; {
			k := min(left, int64(cap(buf)-len(buf)))
			k &^= 1
			start := len(buf)
			buf = buf[:start+int(k)]
			s = fill(buf[start:], s)
			left -= k
			if len(buf) == cap(buf) {
				if err := flush(); err != nil {
					f.Close()
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fill writes bf16 values of magnitude 2^-7..2^-5 into b from xorshift
// streams (one per CPU, seeded from s) and returns the next seed.
func fill(b []byte, s uint64) uint64 {
	workers := runtime.GOMAXPROCS(0)
	n := len(b) / 2
	per := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(x uint64) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				r := uint16(x)
				v := r&0x807F | uint16(120+uint16(x>>16)%3)<<7
				binary.LittleEndian.PutUint16(b[2*i:], v)
			}
		}(s + uint64(w)*0x9E3779B97F4A7C15)
	}
	wg.Wait()
	return s*6364136223846793005 + 1442695040888963407
}
