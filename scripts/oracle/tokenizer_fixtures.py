"""Regenerates the tokenizer unit-test fixtures in gguf/testdata/tokenizer/ from the
real Hugging Face tokenizers library (the oracle venv: scripts/oracle/setup.sh).

    python scripts/oracle/tokenizer_fixtures.py gguf/testdata/tokenizer

- regex_onig.json: match offsets (in code points) that tokenizers' Oniguruma regexes
  give for pre-tokenizer patterns on a set of texts (for the Go regex engine).
- tiny-bpe/: a small byte-level BPE tokenizer.json trained here (Llama-3-style Split
  regex + ByteLevel, NFC normalizer, BOS TemplateProcessing, added tokens of every
  kind), its tokenizer_config.json, and expected.json: transformers' encoding of
  llama.cpp's check text and the resulting chkhsh.
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
    tok.add_tokens([AddedToken("<think>", special=False, normalized=False), AddedToken("apple", special=False, normalized=True)])
    tok.add_special_tokens([AddedToken("<|im_start|>", special=True, normalized=False)])
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token": "<|bos|>", "eos_token": "<|eos|>", "tokenizer_class": "PreTrainedTokenizerFast",
                   "add_bos_token": True,
                   "chat_template": "{% for m in messages %}<|im_start|>{{ m['content'] }}{% endfor %}"}, f)
    ids = AutoTokenizer.from_pretrained(d).encode(CHKTXT)
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"chkhsh": hashlib.sha256(str(ids).encode()).hexdigest(), "ids": ids}, f)


if __name__ == "__main__":
    regex_fixture(sys.argv[1])
    tiny_fixture(sys.argv[1])
