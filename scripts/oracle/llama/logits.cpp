// mlxconv-logits: runs GGUF files in llama.cpp (the CPU build that setup.sh
// makes from the pinned sdist) and reports, per file, the prompt's tokens,
// the raw logits of the last input position and N greedy next tokens. Test
// support for scripts/oracle/llama/check.py, which writes the jobs and turns
// the results into .logits.json; compiled by setup.sh against libllama.
//
//   mlxconv-logits JOBS.tsv [THREADS]
//
// JOBS.tsv has one job per line, tab-separated:
//   FILE  LOGITS_OUT  N  CTX  BOS  TOKENS  PROMPT_HEX
// FILE is the GGUF; the last position's logits go to LOGITS_OUT as raw
// float32 little-endian (n_vocab values by token id); N greedy tokens follow
// the input; CTX is the context size (also the batch size); BOS 1 prepends the
// vocabulary's BOS token to the prompt when the file says add_bos; TOKENS is
// the evaluated input, comma-separated ids ("-": the prompt's tokens);
// PROMPT_HEX is the prompt's UTF-8 bytes in hex, tokenized with special tokens
// parsed and no other special tokens added.
//
// For each job one JSON line goes to stdout:
//   {"ok":true,"file":F,"prompt_tokens":[..],"tokens":[..],"n_vocab":V,"greedy":[..],"seconds":S}
//   {"ok":false,"file":F,"error":"llama.cpp's messages"}
// Greedy is the argmax (lowest id on ties) over N steps, not stopping at an
// end-of-generation token. Exit status 2 on a usage error, 0 otherwise.
#include "llama.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::string g_log;  // llama.cpp's messages during the current job

void log_cb(ggml_log_level level, const char* text, void*) {
    if (level >= GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_CONT) g_log += text;
}

struct Job {
    std::string file, out;
    int n = 8, ctx = 256;
    bool bos = true;
    bool has_tokens = false;
    std::vector<llama_token> tokens;
    std::string prompt;
};

std::string json_str(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\t': o += "\\t"; break;
        case '\r': o += "\\r"; break;
        default:
            if (c < 0x20) {
                char b[8];
                std::snprintf(b, sizeof b, "\\u%04x", c);
                o += b;
            } else {
                o += static_cast<char>(c);
            }
        }
    }
    return o + "\"";
}

std::string json_ids(const std::vector<llama_token>& v) {
    std::string o = "[";
    for (size_t i = 0; i < v.size(); i++) o += (i ? "," : "") + std::to_string(v[i]);
    return o + "]";
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep)) parts.push_back(cur);
    if (!s.empty() && s.back() == sep) parts.push_back("");
    return parts;
}

std::string unhex(const std::string& h) {
    if (h.size() % 2) throw std::runtime_error("odd-length hex prompt");
    std::string o;
    for (size_t i = 0; i < h.size(); i += 2) o += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    return o;
}

Job parse_job(const std::string& line) {
    auto f = split(line, '\t');
    if (f.size() != 7) throw std::runtime_error("job line needs 7 tab-separated fields: " + line);
    Job j;
    j.file = f[0];
    j.out = f[1];
    j.n = std::stoi(f[2]);
    j.ctx = std::stoi(f[3]);
    j.bos = f[4] == "1";
    if (f[5] != "-") {
        j.has_tokens = true;
        for (const auto& t : split(f[5], ',')) j.tokens.push_back(std::stoi(t));
    }
    j.prompt = unhex(f[6]);
    return j;
}

std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text, bool bos) {
    int n = -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, false, true);
    std::vector<llama_token> toks(n > 0 ? n : 0);
    if (n > 0 && llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), toks.data(), n, false, true) != n) {
        throw std::runtime_error("tokenization failed");
    }
    llama_token b = llama_vocab_bos(vocab);
    if (bos && llama_vocab_get_add_bos(vocab) && b != LLAMA_TOKEN_NULL) toks.insert(toks.begin(), b);
    return toks;
}

llama_token argmax(const float* logits, int n_vocab) {
    int best = 0;
    for (int i = 1; i < n_vocab; i++) {
        if (logits[i] > logits[best]) best = i;
    }
    return best;
}

struct Owned {
    llama_model* model = nullptr;
    llama_context* ctx = nullptr;
    ~Owned() {
        if (ctx) llama_free(ctx);
        if (model) llama_model_free(model);
    }
};

// run evaluates one job and returns its JSON line; failures throw.
std::string run(const Job& j, int threads) {
    Owned o;
    auto mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    o.model = llama_model_load_from_file(j.file.c_str(), mp);
    if (!o.model) throw std::runtime_error("load " + j.file + ": failed");
    const llama_vocab* vocab = llama_model_get_vocab(o.model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    auto prompt_tokens = tokenize(vocab, j.prompt, j.bos);
    const auto& tokens = j.has_tokens ? j.tokens : prompt_tokens;
    if (tokens.empty()) throw std::runtime_error("empty input");
    if (static_cast<int>(tokens.size()) + j.n > j.ctx) throw std::runtime_error("input + n exceeds ctx");

    auto cp = llama_context_default_params();
    cp.n_ctx = j.ctx;
    cp.n_batch = j.ctx;
    cp.n_ubatch = j.ctx;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    o.ctx = llama_init_from_model(o.model, cp);
    if (!o.ctx) throw std::runtime_error("context creation failed");

    std::vector<llama_token> input(tokens);
    if (llama_decode(o.ctx, llama_batch_get_one(input.data(), static_cast<int32_t>(input.size()))) != 0) {
        throw std::runtime_error("decode of the input failed");
    }
    const float* logits = llama_get_logits_ith(o.ctx, -1);
    if (!logits) throw std::runtime_error("no logits returned");
    {
        std::ofstream out(j.out, std::ios::binary);
        out.write(reinterpret_cast<const char*>(logits), static_cast<std::streamsize>(sizeof(float) * n_vocab));
        if (!out) throw std::runtime_error("write " + j.out + " failed");
    }
    std::vector<llama_token> greedy;
    llama_token next = argmax(logits, n_vocab);
    for (int i = 0; i < j.n; i++) {
        greedy.push_back(next);
        if (i + 1 == j.n) break;
        if (llama_decode(o.ctx, llama_batch_get_one(&next, 1)) != 0) throw std::runtime_error("decode of a greedy token failed");
        next = argmax(llama_get_logits_ith(o.ctx, -1), n_vocab);
    }
    return "\"prompt_tokens\":" + json_ids(prompt_tokens) + ",\"tokens\":" + json_ids(tokens) +
           ",\"n_vocab\":" + std::to_string(n_vocab) + ",\"greedy\":" + json_ids(greedy);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: mlxconv-logits JOBS.tsv [THREADS]\n");
        return 2;
    }
    const int threads = argc == 3 ? std::atoi(argv[2]) : 2;
    std::ifstream in(argv[1]);
    if (!in) {
        std::fprintf(stderr, "mlxconv-logits: cannot read %s\n", argv[1]);
        return 2;
    }
    llama_log_set(log_cb, nullptr);
    llama_backend_init();
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        g_log.clear();
        auto t0 = std::chrono::steady_clock::now();
        std::string file;
        try {
            Job j = parse_job(line);
            file = j.file;
            std::string body = run(j, threads);
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::cout << "{\"ok\":true,\"file\":" << json_str(file) << "," << body << ",\"seconds\":" << s << "}" << std::endl;
        } catch (const std::exception& e) {
            std::cout << "{\"ok\":false,\"file\":" << json_str(file) << ",\"error\":" << json_str(std::string(e.what()) + "\n" + g_log)
                      << "}" << std::endl;
        }
    }
    llama_backend_free();
    return 0;
}
