"""The tiny test models of every supported family, as data: one JSON file per
family in testdata/families/ (schema: testdata/families/README.md), shared by
the Python oracle generators (convert_models.py, llama/models.py) and the Go
tests (internal/testfamilies).

  load(name)      -> the family's document (dict)
  names(section)  -> the families that have that section, in ORDER
  files()         -> every file the documents live in (for cache stamps)
"""
import json
import os

DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "families"))

# The order the generators list and write the families in (also the default
# order of convert_models.py and llama/models.py).
ORDER = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3",
         "phi3", "mixtral", "qwen2_moe", "qwen3_moe", "llama_awq", "qwen3_gptq"]

# The placeholder for "the size of the tokenizer this model ships" in a config.
VOCAB = "$tokenizer"


def path(name):
    return os.path.join(DIR, name + ".json")


def load(name):
    with open(path(name), encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("family") != name:
        raise ValueError("%s: family is %r, not %r" % (path(name), doc.get("family"), name))
    return doc


def files():
    return sorted(os.path.join(DIR, fn) for fn in os.listdir(DIR) if fn.endswith(".json"))


def names(section):
    """Families with the given section, ORDER first, then any others sorted."""
    have = sorted(os.path.basename(p)[: -len(".json")] for p in files())
    rest = [n for n in have if n not in ORDER]
    return [n for n in ORDER + rest if n in have and section in load(n)]


def resolve(obj, vocab):
    """obj with every VOCAB placeholder replaced by vocab (a deep copy)."""
    if isinstance(obj, dict):
        return {k: resolve(v, vocab) for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve(v, vocab) for v in obj]
    if obj == VOCAB:
        if vocab is None:
            raise ValueError("%s in a config without a tokenizer size" % VOCAB)
        return vocab
    return obj
