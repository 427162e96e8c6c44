"""Reference values for mlxconv's pre-tokenizer naming (ggufexport/tokenizer_pre.go).

    python tokenizer_hash.py DIR...

For each Hugging Face tokenizer directory, encodes llama.cpp's check text
(chktxt of convert_hf_to_gguf.py) with transformers' AutoTokenizer, special
tokens included, and reports the ids and chkhsh = sha256(str(ids)), as
convert_hf_to_gguf.py's get_vocab_base_pre computes them. Also reports the
four Unicode normalization forms of the check text and, for each form, the
runes and adjacent rune pairs over the check text's runes and ASCII that the
form does not leave unchanged (the Go emulation relies on there being none
but U+FF5E under NFKC/NFKD). Prints one JSON object.
"""
import hashlib
import json
import sys
import unicodedata

from transformers import AutoTokenizer

CHKTXT = '\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, \'RE you sure? \'M not sure I\'ll make it, \'D you like some tea? We\'Ve a\'lL'


def unstable(form):
    runes = sorted(set(CHKTXT) | {chr(i) for i in range(128)})
    out = [c for c in runes if unicodedata.normalize(form, c) != c or unicodedata.combining(c)]
    for a in runes:
        for b in runes:
            if unicodedata.normalize(form, a + b) != unicodedata.normalize(form, a) + unicodedata.normalize(form, b):
                out.append(a + b)
    return out


def main():
    forms = ("NFC", "NFD", "NFKC", "NFKD")
    out = {"chktxt": CHKTXT, "normalize": {f: unicodedata.normalize(f, CHKTXT) for f in forms},
           "unstable": {f: unstable(f) for f in forms}, "dirs": {}}
    for d in sys.argv[1:]:
        ids = AutoTokenizer.from_pretrained(d).encode(CHKTXT)
        out["dirs"][d] = {"ids": ids, "chkhsh": hashlib.sha256(str(ids).encode()).hexdigest()}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
