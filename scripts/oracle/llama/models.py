#!/usr/bin/env python3
"""Tiny HF checkpoints for the GGUF export oracle (issue 6): the models of
scripts/oracle/convert_models.py, made convertible by llama.cpp's own
convert_hf_to_gguf.py.

  models.py --npm DIR --out DIR [ARCH ...]     (default: every ARCH below)

Writes OUT/ARCH exactly as convert_models.generate does, with these changes
(each because convert_hf_to_gguf.py cannot take the convert_models.py model as
is, or because the real checkpoints of the family have it):

  tokenizer.model  added for gemma, gemma2, gemma3_text, gemma3 and phi3. Their
                   converters read SentencePiece only (gemma, gemma2, phi3 fail
                   without it; gemma3 falls back to tokenizer.json, which asserts
                   for gemma3_text's 262144-row embedding and names the Gemma 3
                   BPE pre-tokenizer 'granite-embed-multi-311m' for gemma3), and
                   the real repositories ship one. It is derived from the
                   directory's own tokenizer.json (spm_from_tokenizer_json), so
                   both describe the same vocabulary.
  phi3             Phi-3's added tokens <|endoftext|> ... <|user|> (ids 32000-32010)
                   in tokenizer.json and tokenizer_config.json (eos/pad
                   <|endoftext|>): llama.cpp fails to load a vocabulary without
                   <|endoftext|> when general.name contains "phi3" ("error
                   loading model vocabulary: _Map_base::at"), and Phi-3 has them.
  qwen3_moe        mlp_only_layers [] instead of [0]: llama.cpp's qwen3moe has no
                   dense-FFN tensors ("Can not map tensor
                   'model.layers.0.mlp.down_proj.weight'"), and no real Qwen3-MoE
                   uses dense layers. Layer 0 gets a router and experts like the
                   others (fresh deterministic weights).
  gemma3n          (convert_oracle config) the sizes llama.cpp's gemma3n hardcodes:
                   per-layer input 256, laurel rank 64, activation sparsity 0.95
                   on layers 0-9, KV sharing from layer 20 (3 layers: all sparse,
                   none shared); other sizes fail to load ("wrong shape") or
                   compute another model. tokenizer.model as for gemma3.
  gemma4_unified   (convert_oracle config) text_config moe_intermediate_size null:
                   Gemma4Model.set_gguf_parameters requires the key (find_hparam),
                   which transformers 5.23 writes for gemma4 but not for the
                   unified text config.

These changes are data, in the llama_oracle section of
testdata/families/ARCH.json (schema: testdata/families/README.md):
tokenizer_model (SentencePiece normalizer settings), added_tokens, all_sparse.

Everything else (weights, configs, tokenizer files) is byte-identical to
convert_models.py's output. Runs with the oracle venv python (numpy,
safetensors, sentencepiece's protobuf module).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import convert_models as cm  # noqa: E402

import families  # noqa: E402

# The families with a llama_oracle section in testdata/families/ (the changes
# below are data there: tokenizer_model, added_tokens, all_sparse).
ARCHS = families.names("llama_oracle")


def spm_from_tokenizer_json(path, add_dummy_prefix):
    """A SentencePiece BPE ModelProto (serialized) with the pieces of a
    byte-fallback BPE tokenizer.json, by id: <0xNN> pieces are BYTE, special
    added tokens CONTROL (the model's unk_token UNKNOWN), other added tokens
    USER_DEFINED, everything else NORMAL with score -rank (rank counted over the
    NORMAL pieces in id order: earlier ids merge first, as in the SPM models
    these tokenizer.json files were converted from)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    model = tj["model"]
    if model.get("type") != "BPE" or not model.get("byte_fallback"):
        raise ValueError("%s: need a byte-fallback BPE tokenizer.json" % path)
    by_id = {}
    for tok, i in model["vocab"].items():
        by_id[i] = tok
    added = {}
    for t in tj.get("added_tokens", []):
        if t["id"] in by_id and by_id[t["id"]] != t["content"]:
            raise ValueError("%s: added token %d %r clashes with %r" % (path, t["id"], t["content"], by_id[t["id"]]))
        by_id[t["id"]] = t["content"]
        added[t["id"]] = t
    n = max(by_id) + 1
    if len(by_id) != n:
        raise ValueError("%s: token ids are not contiguous (%d ids, max %d)" % (path, len(by_id), n - 1))
    unk = model.get("unk_token")
    m = pb.ModelProto()
    rank = 0
    ids = {}
    for i in range(n):
        tok = by_id[i]
        p = m.pieces.add()
        p.piece = tok
        p.score = 0.0
        if i in added:
            p.type = p.UNKNOWN if tok == unk else (p.CONTROL if added[i].get("special") else p.USER_DEFINED)
        elif len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
            p.type = p.BYTE
        elif tok == unk:
            p.type = p.UNKNOWN
        else:
            p.type = p.NORMAL
            p.score = -float(rank)
            rank += 1
        ids[tok] = i
    ts = m.trainer_spec
    ts.model_type = ts.BPE
    ts.vocab_size = n
    ts.byte_fallback = True
    ts.split_digits = True
    cfg = {}
    cfg_path = os.path.join(os.path.dirname(path), "tokenizer_config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
    for role, names in (("unk", [unk, "<unk>"]), ("bos", ["<s>", "<bos>"]), ("eos", ["</s>", "<eos>"]), ("pad", ["<pad>"])):
        # tokenizer_config.json's *_token first, else the usual names, and only
        # pieces that are special (CONTROL/UNKNOWN) in this vocabulary.
        v = cfg.get(role + "_token")
        if isinstance(v, dict):
            v = v.get("content")
        names = ([v] if isinstance(v, str) else []) + names
        name = next((x for x in names if x in ids and m.pieces[ids[x]].type in (pb.ModelProto.SentencePiece.CONTROL, pb.ModelProto.SentencePiece.UNKNOWN)), None)
        setattr(ts, role + "_id", ids[name] if name is not None else -1)
        if name is not None:
            setattr(ts, role + "_piece", name)
    ns = m.normalizer_spec
    ns.name = "identity"
    ns.add_dummy_prefix = add_dummy_prefix
    ns.remove_extra_whitespaces = False
    ns.escape_whitespaces = True
    return m.SerializeToString(deterministic=True)


def qwen3_moe_all_sparse(c, g):
    """mlp_only_layers [0] -> []: layer 0's dense MLP becomes a router + experts."""
    hidden = c["hidden_size"]
    for i in c["mlp_only_layers"]:
        p = "model.layers.%d.mlp" % i
        for n in ("gate_proj", "up_proj", "down_proj"):
            del g.tensors["%s.%s.weight" % (p, n)]
        g.linear(p + ".gate", c["num_experts"], hidden)
        for e in range(c["num_experts"]):
            cm.dense_mlp(g, "%s.experts.%d" % (p, e), hidden, c["moe_intermediate_size"])
    c["mlp_only_layers"] = []


def add_tokens(out, spec):
    """Appends spec["tokens"] ({content, rstrip}) to tokenizer.json as special
    added tokens after the vocabulary (Phi-3: 32000..32010, its tokenizer being
    Llama 2's 32000 pieces plus these), with tokenizer_config.json's
    added_tokens_decoder to match and spec["tokenizer_config"] merged in (Phi-3:
    eos/pad <|endoftext|> as in Phi-3-mini). llama.cpp requires <|endoftext|>
    when general.name contains "phi3"/"phi-3" (it sets token attributes on it
    by name)."""
    tj_path = os.path.join(out, "tokenizer.json")
    tc_path = os.path.join(out, "tokenizer_config.json")
    with open(tj_path, encoding="utf-8") as f:
        tj = json.load(f)
    with open(tc_path, encoding="utf-8") as f:
        tc = json.load(f)
    # After every id the tokenizer has (its added tokens may lie beyond the
    # model vocabulary, as Qwen's do).
    base = max([*tj["model"]["vocab"].values(), *(t["id"] for t in tj.get("added_tokens", []))]) + 1
    dec = tc.setdefault("added_tokens_decoder", {})
    for k, tok in enumerate(spec["tokens"]):
        t = {"id": base + k, "content": tok["content"], "single_word": False, "lstrip": False,
             "rstrip": tok["rstrip"], "normalized": False, "special": True}
        tj["added_tokens"].append(t)
        dec[str(base + k)] = {kk: v for kk, v in t.items() if kk != "id"}
    tc.update(spec.get("tokenizer_config", {}))
    with open(tj_path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
    with open(tc_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(tc, indent=2, ensure_ascii=False) + "\n")


def fixture_name(arch):
    """The hf_fixtures name of arch's GGUF-oracle model: its own fixture, or
    its @gguf variant when llama_oracle.convert_oracle changes the fixture."""
    if families.load(arch)["llama_oracle"].get("convert_oracle"):
        return arch + cm.hf_fixtures.GGUF_VARIANT
    return arch


def generate(arch, npm, out):
    """Writes the GGUF-oracle variant of arch into out (created); returns out."""
    lo = families.load(arch)["llama_oracle"]
    os.makedirs(out, exist_ok=True)
    fx = fixture_name(arch)
    if cm.hf_fixtures.spec(fx) is not None:
        # Made by transformers (hf_fixtures.py, cached): copied as is.
        if lo.get("all_sparse"):
            raise ValueError("%s: all_sparse needs a convert_models layout" % arch)
        src = cm.hf_fixtures.ensure([fx], npm)[fx]
        shutil.copytree(src, out, dirs_exist_ok=True)
    else:
        config, gen, tok, gen_cfg, shards = cm.build(arch, npm, out)
        if lo.get("all_sparse"):
            qwen3_moe_all_sparse(config, gen)
        cm.write_json_hf(os.path.join(out, "config.json"), config)
        if gen_cfg is not None:
            cm.write_json_hf(os.path.join(out, "generation_config.json"), gen_cfg)
        if tok is not None:
            cm.copy_tokenizer(npm, tok, out)
        cm.save_weights(gen, out, shards)
    if "tokenizer_model" in lo:
        # From the tokenizer.json as shipped (before any added tokens below).
        data = spm_from_tokenizer_json(os.path.join(out, "tokenizer.json"), **lo["tokenizer_model"])
        with open(os.path.join(out, "tokenizer.model"), "wb") as f:
            f.write(data)
    if "added_tokens" in lo:
        add_tokens(out, lo["added_tokens"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npm", required=True, help="directory printed by scripts/oracle/tokenizers.sh")
    ap.add_argument("--out", required=True, help="output directory (one subdirectory per architecture)")
    ap.add_argument("archs", nargs="*", help="architectures (default: all of %s)" % ", ".join(ARCHS))
    a = ap.parse_args()
    for arch in a.archs or ARCHS:
        if arch not in ARCHS:
            ap.error("unknown architecture %r (have: %s)" % (arch, ", ".join(ARCHS)))
        print(generate(arch, a.npm, os.path.join(a.out, arch)))


if __name__ == "__main__":
    main()
