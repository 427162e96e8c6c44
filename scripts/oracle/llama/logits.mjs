#!/usr/bin/env node
// Runs a GGUF file in llama.cpp (node-llama-cpp's prebuilt CPU binaries, no GPU,
// never builds or downloads anything) and prints, as JSON on stdout, the input
// tokens, the raw logits of the last prompt position and N greedy next tokens.
//
//   node logits.mjs FILE.gguf [--prompt TEXT | --tokens 1,2,3] [--n 8] [--no-bos]
//                   [--ctx 256] [--threads 2] [--logits-out FILE.f32]
//
// The prompt is tokenized by the file's own tokenizer (special tokens parsed),
// with the BOS token prepended when the file says add_bos (llama.cpp's rule)
// unless --no-bos. --tokens gives the input ids directly (no BOS added), so two
// files with different tokenizers can be fed the same ids.
//
// Output fields: file, llama_cpp (release of the bundled llama.cpp), tokens,
// n_vocab, greedy (N token ids, temperature 0), top (the 8 largest
// [id, logit]), logits_sha256 (of the little-endian float32 vector),
// logits_f32_b64 (the whole vector by token id, base64 float32 little-endian;
// omitted with --logits-out, which writes the raw float32 bytes to a file).
// A load error exits 1 with llama.cpp's message on stderr.
//
// node-llama-cpp is loaded from $MLXCONV_LLAMA_NPM/node_modules (setup.sh
// installs it in .cache/oracle/llama/npm), else from a node_modules beside or
// above this script.
import {createHash} from "node:crypto";
import {existsSync, readFileSync, writeFileSync} from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

function usage(msg) {
    if (msg) process.stderr.write(`logits.mjs: ${msg}\n`);
    process.stderr.write("usage: node logits.mjs FILE.gguf [--prompt TEXT | --tokens 1,2,3] [--n 8] [--no-bos] [--ctx 256] [--threads 2] [--logits-out FILE]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const a = {file: null, prompt: "The quick brown fox jumps over the lazy dog.", tokens: null, n: 8, bos: true, ctx: 256, threads: 2, logitsOut: null};
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${k} needs a value`);
            return argv[++i];
        };
        const int = (s) => {
            if (!/^\d+$/.test(s)) usage(`${k}: not a non-negative integer: ${s}`);
            return Number(s);
        };
        if (k === "--prompt") a.prompt = val();
        else if (k === "--tokens") a.tokens = val().split(",").filter((s) => s !== "").map(int);
        else if (k === "--n") a.n = int(val());
        else if (k === "--no-bos") a.bos = false;
        else if (k === "--ctx") a.ctx = int(val());
        else if (k === "--threads") a.threads = int(val());
        else if (k === "--logits-out") a.logitsOut = val();
        else if (k.startsWith("--")) usage(`unknown option ${k}`);
        else if (a.file === null) a.file = k;
        else usage(`unexpected argument ${k}`);
    }
    if (a.file === null) usage("FILE.gguf is required");
    return a;
}

const args = parseArgs(process.argv.slice(2));

async function importNodeLlamaCpp() {
    const dir = process.env.MLXCONV_LLAMA_NPM;
    if (!dir) return import("node-llama-cpp");
    const pkg = path.join(dir, "node_modules", "node-llama-cpp");
    if (!existsSync(path.join(pkg, "package.json"))) {
        process.stderr.write(`logits.mjs: no node-llama-cpp in ${dir}/node_modules (run scripts/oracle/llama/setup.sh)\n`);
        process.exit(1);
    }
    const exp = JSON.parse(readFileSync(path.join(pkg, "package.json"), "utf8")).exports["."];
    const entry = typeof exp === "string" ? exp : exp.import || exp.default;
    return import(pathToFileURL(path.join(pkg, entry)).href);
}

const {getLlama, LlamaLogLevel} = await importNodeLlamaCpp();

const logs = [];
const llama = await getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => logs.push(`[${level}] ${message}`),
});

let model;
try {
    model = await llama.loadModel({modelPath: path.resolve(args.file), gpuLayers: 0, useMmap: true});
} catch (err) {
    process.stderr.write(`logits.mjs: load ${args.file}: ${err && err.message ? err.message : err}\n${logs.join("\n")}\n`);
    process.exit(1);
}

let tokens;
if (args.tokens !== null) {
    tokens = args.tokens;
} else {
    tokens = Array.from(model.tokenize(args.prompt, true));
    if (args.bos && model.tokens.shouldPrependBosToken && model.tokens.bos != null) tokens.unshift(model.tokens.bos);
}
if (tokens.length === 0) usage("empty prompt");
if (tokens.length + args.n > args.ctx) usage(`prompt (${tokens.length}) + n (${args.n}) exceeds --ctx ${args.ctx}`);

const context = await model.createContext({contextSize: args.ctx, batchSize: args.ctx, threads: {ideal: args.threads, min: args.threads}, sequences: 1});
const seq = context.getSequence();

// Raw logits of the last prompt position.
const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, {generateNext: {logits: true}}] : t));
const res = await seq.controlledEvaluate(input);
const last = res[res.length - 1];
if (!last || !last.next || !last.next.logits) {
    process.stderr.write("logits.mjs: no logits returned\n");
    process.exit(1);
}
const map = last.next.logits;
let nVocab = 0;
for (const id of map.keys()) nVocab = Math.max(nVocab, id + 1);
const vec = new Float32Array(nVocab).fill(Number.NaN);
for (const [id, v] of map) vec[id] = v;
const missing = vec.reduce((c, v) => c + (Number.isNaN(v) ? 1 : 0), 0);
const buf = Buffer.from(vec.buffer, vec.byteOffset, vec.byteLength);
const top = [...map.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 8);

// Greedy continuation from a clean sequence (temperature 0 is argmax).
await seq.clearHistory();
const greedy = [];
if (args.n > 0) {
    for await (const t of seq.evaluate(tokens, {temperature: 0})) {
        greedy.push(t);
        if (greedy.length >= args.n) break;
    }
}

const out = {
    file: args.file,
    llama_cpp: llama.llamaCppRelease,
    tokens,
    n_vocab: nVocab,
    missing_logits: missing,
    greedy,
    top,
    logits_sha256: createHash("sha256").update(buf).digest("hex"),
};
if (args.logitsOut) writeFileSync(args.logitsOut, buf);
else out.logits_f32_b64 = buf.toString("base64");
process.stdout.write(JSON.stringify(out) + "\n");

await context.dispose();
await model.dispose();
await llama.dispose();
