#!/usr/bin/env node
// Tokenizes test strings with llama.cpp (node-llama-cpp's prebuilt CPU build,
// vocab-only loads of GGUF files written by mlxconv) and compares the ids with
// llama.cpp's own test vectors (.out files) or with @huggingface/tokenizers
// encoding the original tokenizer.json. Driven by ggufexport/tokenizer_oracle_test.go.
//
//   node tokenizer_check.mjs MANIFEST.json
//
// MANIFEST: {"cases": [{"name": "...", "gguf": "FILE.gguf", "inp": "FILE.inp",
//   "out": "FILE.out"?, "hf": {"tokenizer": "tokenizer.json", "config": "tokenizer_config.json"}?}]}
// .inp holds the strings separated by lines "__ggml_vocab_test__" (llama.cpp's
// models/ggml-vocab-*.gguf.inp format), .out one line of space-separated ids per
// string. llama.cpp tokenizes without BOS/EOS and without parsing special-token
// text (as llama.cpp's test-tokenizer-0 does); HF encodes with add_special_tokens
// false. Prints one JSON object on stdout: {"llama_cpp": release, "cases": [{"name",
// "check": "out"|"hf", "passed", "failed", "failures": [{"text", "got", "want"}]}]}.
// Exits 1 only when something cannot be run (bad manifest, load error).
//
// Packages come from $MLXCONV_ORACLE_NPM/node/node_modules (scripts/oracle/llama_npm.sh).
import {createRequire} from "node:module";
import {readFileSync} from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

const npm = process.env.MLXCONV_ORACLE_NPM;
if (!npm) {
  console.error("tokenizer_check: MLXCONV_ORACLE_NPM is not set (run scripts/oracle/llama_npm.sh)");
  process.exit(1);
}
const req = createRequire(path.join(npm, "node", "package.json"));
// require.resolve picks the CommonJS build where there is one; importing that
// gives its exports as the default export.
const load = async (name) => {
  const m = await import(pathToFileURL(req.resolve(name)).href);
  return m.default && typeof m.default === "object" ? {...m.default, ...m} : m;
};

const manifest = JSON.parse(readFileSync(process.argv[2], "utf8"));
const {getLlama, LlamaLogLevel} = await load("node-llama-cpp");
const {Tokenizer} = await load("@huggingface/tokenizers");

const SEP = "\n__ggml_vocab_test__\n";
function readInputs(file) {
  const parts = readFileSync(file, "utf8").split(SEP);
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}
function readOutputs(file) {
  const lines = readFileSync(file, "utf8").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => l.trim() === "" ? [] : l.trim().split(/\s+/).map(Number));
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger: () => {}});
const result = {llama_cpp: llama.llamaCppRelease?.release ?? null, cases: []};
for (const c of manifest.cases) {
  const texts = readInputs(c.inp);
  const model = await llama.loadModel({modelPath: c.gguf, vocabOnly: true});
  try {
    const tok = (t) => Array.from(model.tokenize(t, false), Number);
    const checks = [];
    if (c.out) {
      const want = readOutputs(c.out);
      if (want.length !== texts.length) {
        throw new Error(`${c.name}: ${texts.length} strings in ${c.inp} but ${want.length} lines in ${c.out}`);
      }
      checks.push({check: "out", want: (i) => want[i]});
    }
    if (c.hf) {
      const hf = new Tokenizer(JSON.parse(readFileSync(c.hf.tokenizer, "utf8")),
        c.hf.config ? JSON.parse(readFileSync(c.hf.config, "utf8")) : {});
      checks.push({check: "hf", want: (i) => Array.from(hf.encode(texts[i], {add_special_tokens: false}).ids, Number)});
    }
    for (const ch of checks) {
      const r = {name: c.name, check: ch.check, passed: 0, failed: 0, failures: []};
      texts.forEach((t, i) => {
        const got = tok(t);
        const want = ch.want(i);
        if (same(got, want)) {
          r.passed++;
        } else {
          r.failed++;
          if (r.failures.length < 5) r.failures.push({text: t, got, want});
        }
      });
      result.cases.push(r);
    }
  } finally {
    await model.dispose();
  }
}
await llama.dispose?.();
process.stdout.write(JSON.stringify(result) + "\n");
