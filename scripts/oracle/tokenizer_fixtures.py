"""Regenerates the tokenizer unit-test fixtures in ggufexport/testdata/tokenizer/ from the
real Hugging Face tokenizers library (the oracle venv: scripts/oracle/setup.sh).

    python scripts/oracle/tokenizer_fixtures.py ggufexport/testdata/tokenizer

- regex_onig.json: match offsets (in code points) that tokenizers' Oniguruma regexes
  give for pre-tokenizer patterns on a set of texts (for the Go regex engine).
- pretokenizers.json: what tokenizers' normalizers and pre-tokenizers make of a set of
  texts, for each component the Go emulation implements.
- tiny-bpe/: a small byte-level BPE tokenizer.json trained here (Llama-3-style Split
  regex + ByteLevel, NFC normalizer, BOS TemplateProcessing, added tokens of every
  kind), its tokenizer_config.json, and expected.json: transformers' encoding of
  llama.cpp's check text, the resulting chkhsh, and tokenizers' encodings of TEXTS
  and of added-token edge cases.
"""
import hashlib
import json
import os
import sys

from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_hash import CHKTXT  # noqa: E402

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
PATTERNS = [("llama3", LLAMA3), ("qwen2", QWEN2), ("gpt2", GPT2), ("eol", r"\s+$"),
            ("quantifiers", r"a+?b|\d{2,}?|x*+y|(?:ab)+"),
            ("classes", r"[^\s\p{L}\p{N}]+|[\p{Lu}][\p{Ll}]*|[0-9a-f]{2}")]
TEXTS = ["Hello world", "a   b", "  leading and trailing  ", "I'VE 'Ll We'Re don't", "12345 1.5 \u0661\u0662\u0663",
         "line1\n\n  line2\r\n\tx", "emoji \U0001f999\U0001f999 ok", "C\u1eeda Vi\u1ec7t", "na\u00efve caf\u00e9",
         "x\u00a0y\u3000z", "tabs\t\t\tend\t", "?!... ---===", "a\n", "\n", CHKTXT]


def regex_fixture(out):
    res = []
    for name, pat in PATTERNS:
        cases = []
        for t in TEXTS:
            r = pre_tokenizers.Split(Regex(pat), "removed", invert=True).pre_tokenize_str(t)
            cases.append({"text": t, "matches": [list(x[1]) for x in r]})
        res.append({"name": name, "pattern": pat, "cases": cases})
    with open(os.path.join(out, "regex_onig.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1)


def tiny_fixture(out):
    d = os.path.join(out, "tiny-bpe")
    os.makedirs(d, exist_ok=True)
    corpus = ["Hello world, this is a tiny tokenizer for tests.",
              "The quick brown fox jumps over the lazy dog 1234567890.",
              "I've been told he's there; 'RE you sure? We'Ve a'lL.",
              "\u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438 \u6211\u60f3\u5728apple\u5de5\u4f5c \U0001f999\U0001f999",
              "\n\n  \t  spaces and\ttabs\n"] * 20
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=420, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|bos|>", "<|eos|>"]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), "isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.normalizer = normalizers.NFC()
    bos = tok.token_to_id("<|bos|>")
    tok.post_processor = processors.TemplateProcessing(single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B",
                                                       special_tokens=[("<|bos|>", bos)])
    tok.add_tokens([AddedToken("<think>", special=False, normalized=False), AddedToken("apple", special=False, normalized=True),
                    AddedToken("<l>", lstrip=True, normalized=False), AddedToken("<r>", rstrip=True, normalized=False),
                    AddedToken("word", single_word=True, normalized=False), AddedToken("wordy", normalized=False)])
    tok.add_special_tokens([AddedToken("<|im_start|>", special=True, normalized=False)])
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token": "<|bos|>", "eos_token": "<|eos|>", "tokenizer_class": "PreTrainedTokenizerFast",
                   "add_bos_token": True,
                   "chat_template": "{% for m in messages %}<|im_start|>{{ m['content'] }}{% endfor %}"}, f)
    ids = AutoTokenizer.from_pretrained(d).encode(CHKTXT)
    texts = TEXTS + ["a <l> b", "a  <r>  b", "word words sword word_ word. wordy", "<think>apple<|im_start|>\u212b"]
    enc = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"chkhsh": hashlib.sha256(str(ids).encode()).hexdigest(), "ids": ids,
                   "encodes": [{"text": t, "ids": enc.encode(t).ids} for t in texts]}, f, ensure_ascii=False)


PRE_TOKENIZERS = [
    {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
    {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
    {"type": "Split", "pattern": {"Regex": r"\s+"}, "behavior": "Removed", "invert": True},
    {"type": "Digits", "individual_digits": True},
    {"type": "Digits", "individual_digits": False},
    {"type": "Punctuation", "behavior": "Isolated"},
    {"type": "Punctuation", "behavior": "Contiguous"},
    {"type": "Whitespace"},
    {"type": "WhitespaceSplit"},
    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": False},
    {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                           {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}]},
]
NORMALIZERS = [
    {"type": "NFC"}, {"type": "NFKC"}, {"type": "Lowercase"},
    {"type": "Strip", "strip_left": True, "strip_right": False},
    {"type": "Prepend", "prepend": "\u2581"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": "_"},
    {"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": True, "strip_right": True}, {"type": "Prepend", "prepend": "#"}]},
]
COMPONENT_TEXTS = ["Hello world, 12345 don't!!", "  multiple   spaces\t\nand\u3000ideographic ", "caf\u00e9 \u00c9T\u00c9 \u0661\u0662",
                   "a--b...c", "\u2581already\u2581marked", "", CHKTXT]


def from_spec(normalizer=None, pre_tokenizer=None):
    return Tokenizer.from_str(json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer, "post_processor": None, "decoder": None,
        "model": {"type": "BPE", "vocab": {}, "merges": []}}))


def components_fixture(out):
    res = {"pre_tokenizers": [], "normalizers": []}
    for spec in PRE_TOKENIZERS:
        pt = from_spec(pre_tokenizer=spec).pre_tokenizer
        res["pre_tokenizers"].append({"spec": spec, "cases": [
            {"text": t, "pieces": [p for p, _ in pt.pre_tokenize_str(t)]} for t in COMPONENT_TEXTS]})
    for spec in NORMALIZERS:
        nz = from_spec(normalizer=spec).normalizer
        # Unicode forms only on the check text (all the Go emulation supports).
        texts = [CHKTXT] if spec["type"] in ("NFC", "NFKC") else COMPONENT_TEXTS
        res["normalizers"].append({"spec": spec, "cases": [{"text": t, "normalized": nz.normalize_str(t)} for t in texts]})
    with open(os.path.join(out, "pretokenizers.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    regex_fixture(sys.argv[1])
    components_fixture(sys.argv[1])
    tiny_fixture(sys.argv[1])
