#!/usr/bin/env node
// Runs a GGUF file in llama.cpp (node-llama-cpp's prebuilt CPU binaries, no GPU,
// never builds or downloads anything) and prints, as JSON on stdout, the input
// tokens, the raw logits of the last prompt position and N greedy next tokens.
//
//   node logits.mjs FILE.gguf [PROMPT | --prompt TEXT] [--tokens 1,2,3] [--n 8] [--no-bos]
//                   [--ctx 256] [--threads 2] [--logits-out FILE.f32]
//   node logits.mjs --batch JOBS.json [--threads 2]
//
// The prompt is tokenized by the file's own tokenizer (special tokens parsed),
// with the BOS token prepended when the file says add_bos (llama.cpp's rule)
// unless --no-bos: that is prompt_tokens. The evaluated input is --tokens when
// given (no BOS added: two files with different tokenizers can be fed the same
// ids), else prompt_tokens.
//
// Output fields: file, llama_cpp (release of the bundled llama.cpp),
// prompt_tokens, tokens (evaluated), n_vocab, greedy (N token ids, temperature
// 0, continuing the evaluated tokens), top (the 8 largest [id, logit]),
// logits_sha256 (of the little-endian float32 vector), logits_f32_b64 (the whole
// vector by token id, base64 float32 little-endian; omitted with --logits-out,
// which writes the raw float32 bytes to a file). A load error exits 1 with
// llama.cpp's message on stderr.
//
// --batch runs many files in one process (llama.cpp is initialised once):
// JOBS.json is [{file, out, prompt?, tokens?, n?, bos?, ctx?}, ...]; each result
// (or {file, error}) is written as JSON to its out path, and one line
// {file, out, ok, seconds} per job goes to stdout. Exit 0 unless the batch
// itself cannot run (per-job failures are in the results).
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
    process.stderr.write("usage: node logits.mjs FILE.gguf [PROMPT | --prompt TEXT] [--tokens 1,2,3] [--n 8] [--no-bos] [--ctx 256] [--threads 2] [--logits-out FILE]\n" +
        "       node logits.mjs --batch JOBS.json [--threads 2]\n");
    process.exit(2);
}

const DEFAULT_PROMPT = "The quick brown fox jumps over the lazy dog.";

function parseArgs(argv) {
    const a = {file: null, batch: null, prompt: DEFAULT_PROMPT, tokens: null, n: 8, bos: true, ctx: 256, threads: 2, logitsOut: null};
    let promptGiven = false;
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
        if (k === "--prompt") {
            a.prompt = val();
            promptGiven = true;
        }
        else if (k === "--tokens") a.tokens = val().split(",").filter((s) => s !== "").map(int);
        else if (k === "--n") a.n = int(val());
        else if (k === "--no-bos") a.bos = false;
        else if (k === "--ctx") a.ctx = int(val());
        else if (k === "--threads") a.threads = int(val());
        else if (k === "--logits-out") a.logitsOut = val();
        else if (k === "--batch") a.batch = val();
        else if (k.startsWith("--")) usage(`unknown option ${k}`);
        else if (a.file === null) a.file = k;
        else if (!promptGiven) {
            a.prompt = k;
            promptGiven = true;
        } else usage(`unexpected argument ${k}`);
    }
    if ((a.file === null) === (a.batch === null)) usage("give FILE.gguf or --batch JOBS.json");
    return a;
}

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

class JobError extends Error {}

// Runs one job on an initialised llama; returns the result object or throws
// JobError with llama.cpp's messages.
async function runJob(llama, logs, job, threads) {
    const prompt = job.prompt ?? DEFAULT_PROMPT;
    const n = job.n ?? 8;
    const ctx = job.ctx ?? 256;
    const bos = job.bos ?? true;
    logs.length = 0;
    let model;
    try {
        model = await llama.loadModel({modelPath: path.resolve(job.file), gpuLayers: 0, useMmap: true});
    } catch (err) {
        throw new JobError(`load ${job.file}: ${err && err.message ? err.message : err}\n${logs.join("\n")}`);
    }
    let context;
    try {
        const promptTokens = Array.from(model.tokenize(prompt, true));
        if (bos && model.tokens.shouldPrependBosToken && model.tokens.bos != null) promptTokens.unshift(model.tokens.bos);
        const tokens = job.tokens != null ? Array.from(job.tokens) : promptTokens;
        if (tokens.length === 0) throw new JobError("empty input");
        if (tokens.length + n > ctx) throw new JobError(`input (${tokens.length}) + n (${n}) exceeds ctx ${ctx}`);

        context = await model.createContext({contextSize: ctx, batchSize: ctx, threads: {ideal: threads, min: threads}, sequences: 1});
        const seq = context.getSequence();

        // Raw logits of the last input position.
        const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, {generateNext: {logits: true}}] : t));
        const res = await seq.controlledEvaluate(input);
        const last = res[res.length - 1];
        if (!last || !last.next || !last.next.logits) throw new JobError("no logits returned");
        const map = last.next.logits;
        let nVocab = 0;
        for (const id of map.keys()) nVocab = Math.max(nVocab, id + 1);
        const vec = new Float32Array(nVocab).fill(Number.NaN);
        for (const [id, v] of map) vec[id] = v;
        let missing = 0;
        for (let i = 0; i < nVocab; i++) if (!map.has(i)) missing++;
        const buf = Buffer.from(vec.buffer, vec.byteOffset, vec.byteLength);
        const top = [...map.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 8);

        // Greedy continuation from a clean sequence (temperature 0 is argmax).
        await seq.clearHistory();
        const greedy = [];
        if (n > 0) {
            for await (const t of seq.evaluate(tokens, {temperature: 0})) {
                greedy.push(t);
                if (greedy.length >= n) break;
            }
        }
        return {
            out: {
                file: job.file,
                llama_cpp: llama.llamaCppRelease,
                prompt,
                prompt_tokens: promptTokens,
                tokens,
                n_vocab: nVocab,
                missing_logits: missing,
                greedy,
                top,
                logits_sha256: createHash("sha256").update(buf).digest("hex"),
            },
            buf,
        };
    } finally {
        if (context) await context.dispose();
        await model.dispose();
    }
}

const args = parseArgs(process.argv.slice(2));
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

if (args.batch === null) {
    const job = {file: args.file, prompt: args.prompt, tokens: args.tokens, n: args.n, bos: args.bos, ctx: args.ctx};
    let r;
    try {
        r = await runJob(llama, logs, job, args.threads);
    } catch (err) {
        if (!(err instanceof JobError)) throw err;
        process.stderr.write(`logits.mjs: ${err.message}\n`);
        process.exit(1);
    }
    if (args.logitsOut) writeFileSync(args.logitsOut, r.buf);
    else r.out.logits_f32_b64 = r.buf.toString("base64");
    process.stdout.write(JSON.stringify(r.out) + "\n");
} else {
    const jobs = JSON.parse(readFileSync(args.batch, "utf8"));
    for (const job of jobs) {
        const t0 = Date.now();
        let out;
        try {
            const r = await runJob(llama, logs, job, args.threads);
            out = r.out;
            out.logits_f32_b64 = r.buf.toString("base64");
        } catch (err) {
            if (!(err instanceof JobError)) throw err;
            out = {file: job.file, error: err.message};
        }
        writeFileSync(job.out, JSON.stringify(out) + "\n");
        process.stdout.write(JSON.stringify({file: job.file, out: job.out, ok: !("error" in out), seconds: (Date.now() - t0) / 1000}) + "\n");
    }
}
await llama.dispose();
