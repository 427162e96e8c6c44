"""Reference for mlxconv's port of gguf-py's SpecialVocab (ggufexport/tokenizer_special.go).

    PYTHONPATH=<llama.cpp gguf-py> python special_vocab.py REQUESTS.json

REQUESTS: [{"dir": ..., "load_merges": bool, "n_vocab": int|null, "types": [..]|null}].
Runs gguf.vocab.SpecialVocab (llama.cpp's vendored gguf-py, installed by
scripts/oracle/llama_npm.sh) on each directory and prints a JSON list of its
state: merges, special token ids and add_*_token flags in insertion order,
chat template, normalizer flags and the final special token types.
"""
import json
import logging
import sys

from gguf.vocab import SpecialVocab

logging.disable(logging.CRITICAL)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        reqs = json.load(f)
    out = []
    for r in reqs:
        sv = SpecialVocab(r["dir"], load_merges=r["load_merges"], n_vocab=r["n_vocab"],
                          special_token_types=r.get("types"))
        out.append({
            "merges": sv.merges,
            "ids": [[k, v] for k, v in sv.special_token_ids.items()],
            "add": [[k, v] for k, v in sv.add_special_token.items()],
            "chat_template": sv.chat_template,
            "lowercase": sv.normalizer_lowercase,
            "strip_accents": sv.normalizer_strip_accents,
            "types": list(sv.special_token_types),
        })
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
