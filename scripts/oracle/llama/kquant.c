// mlxconv-kquant: ggml's quantizers and dequantizers over a pipe, the oracle
// of package gguf/kquant (scripts/oracle/kquant_test.go compiles it against
// the static ggml libraries that setup.sh builds from the pinned sdist and
// runs it).
//
// stdin holds requests, one after another, until EOF; each is a header of
// four little-endian int64: OP TYPE A B, then its data.
//   OP 0 quantize:   A = nrows, B = ncols | (1<<62 when an importance matrix
//                    follows); data: nrows*ncols float32, then ncols float32
//                    of importance matrix if flagged. Reply: the bytes of
//                    ggml_quantize_chunk(TYPE, src, dst, 0, nrows, ncols, imatrix).
//   OP 1 dequantize: A = nbytes (whole blocks), B unused; data: the bytes.
//                    Reply: the float32 values of the type's to_float.
// Each reply is preceded by its length in bytes as a little-endian int64.
// Exit status 2 on a malformed request.
#include "ggml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int read_full(void * p, size_t n) {
    return fread(p, 1, n, stdin) == n;
}

static void reply(const void * p, int64_t n) {
    fwrite(&n, sizeof n, 1, stdout);
    fwrite(p, 1, (size_t) n, stdout);
    fflush(stdout);
}

static void * xmalloc(size_t n) {
    void * p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "mlxconv-kquant: out of memory\n");
        exit(2);
    }
    return p;
}

static int quantize(int64_t type, int64_t nrows, int64_t b) {
    const int has_imatrix = (b >> 62) & 1;
    const int64_t ncols = b & ((INT64_C(1) << 62) - 1);
    float * src = xmalloc(sizeof(float) * (size_t) (nrows * ncols));
    float * imatrix = has_imatrix ? xmalloc(sizeof(float) * (size_t) ncols) : NULL;
    if (!read_full(src, sizeof(float) * (size_t) (nrows * ncols)) ||
        (imatrix && !read_full(imatrix, sizeof(float) * (size_t) ncols))) {
        return 0;
    }
    const size_t size = ggml_row_size((enum ggml_type) type, ncols) * (size_t) nrows;
    void * dst = xmalloc(size);
    const size_t n = ggml_quantize_chunk((enum ggml_type) type, src, dst, 0, nrows, ncols, imatrix);
    reply(dst, (int64_t) n);
    free(src);
    free(imatrix);
    free(dst);
    return 1;
}

static int dequantize(int64_t type, int64_t nbytes) {
    const struct ggml_type_traits * tt = ggml_get_type_traits((enum ggml_type) type);
    if (!tt->to_float || tt->type_size == 0 || nbytes % (int64_t) tt->type_size != 0) {
        return 0;
    }
    void * src = xmalloc((size_t) nbytes);
    if (!read_full(src, (size_t) nbytes)) {
        return 0;
    }
    const int64_t n = nbytes / (int64_t) tt->type_size * tt->blck_size;
    float * dst = xmalloc(sizeof(float) * (size_t) n);
    tt->to_float(src, dst, n);
    reply(dst, n * (int64_t) sizeof(float));
    free(src);
    free(dst);
    return 1;
}

int main(void) {
    int64_t h[4];
    while (read_full(h, sizeof h)) {
        int ok = 0;
        if (h[1] >= 0 && h[1] < GGML_TYPE_COUNT && h[2] >= 0) {
            ok = h[0] == 0 ? quantize(h[1], h[2], h[3]) : h[0] == 1 ? dequantize(h[1], h[2]) : 0;
        }
        if (!ok) {
            fprintf(stderr, "mlxconv-kquant: malformed request (op %lld type %lld)\n", (long long) h[0], (long long) h[1]);
            return 2;
        }
    }
    return 0;
}
