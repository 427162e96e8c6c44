/*
 * A tiny fake of libmlxc (the mlx-c C API) for mlxconv's bridge tests.
 * Written from the prototypes in mlx-c's public headers; it shares no code
 * with mlx-c. It mimics the conventions the bridge depends on:
 *
 *   - handles are one-pointer structs passed by value;
 *   - ops return 0 on success, non-zero after calling the error handler;
 *   - the default error handler prints and exits, like mlx-c's;
 *   - results of ops are lazy: reading data before eval is an error;
 *   - streams belong to the thread that created them (MLX >= 0.31.2);
 *   - the quantize/dequantize arity depends on the ABI generation.
 *
 * Compile-time switches:
 *   FAKE_ABI=3|4|5|6        which mlx-c generation to mimic (default 6)
 *   FAKE_OMIT_ASTYPE        leave out the required symbol mlx_astype
 *   FAKE_VERSION_FAIL       mlx_version reports an error (smoke test fails)
 *   FAKE_METAL              mlx_metal_is_available is true, GPU streams work
 *   FAKE_NEEDS_CORE         depend on fake_core_answer() from libmlx
 *
 * Test hooks are exported with the fake_ prefix.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FAKE_ABI
#define FAKE_ABI 6
#endif

#define EXPORT __attribute__((visibility("default")))

/* ---- handle types (by value, one pointer) ---- */
typedef struct { void* ctx; } mlx_array;
typedef struct { void* ctx; } mlx_stream;
typedef struct { void* ctx; } mlx_vector_array;
typedef struct { void* ctx; } mlx_string;
typedef struct { int value; bool has_value; } mlx_optional_int;
typedef struct { int value; bool has_value; } mlx_optional_dtype;

enum {
  MLX_BOOL, MLX_UINT8, MLX_UINT16, MLX_UINT32, MLX_UINT64, MLX_INT8,
  MLX_INT16, MLX_INT32, MLX_INT64, MLX_FLOAT16, MLX_FLOAT32, MLX_FLOAT64,
  MLX_BFLOAT16, MLX_COMPLEX64
};

static const size_t dtype_size[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 2, 8};

#define MAGIC_ARRAY 0x41525259u
#define MAGIC_STREAM 0x5354524du
#define MAGIC_VECTOR 0x56454354u
#define MAGIC_STRING 0x53545247u
#define MAXDIM 8
#define MAXVEC 8

typedef struct {
  uint32_t magic;
  int dtype;
  int ndim;
  int shape[MAXDIM];
  size_t nbytes;
  uint8_t* data;
  int evaluated;
  int row_contiguous;
} arr_t;

typedef struct { uint32_t magic; int gpu; pthread_t owner; } stream_t;
/* owned: the vector frees its items (op results); otherwise it borrows them
 * (mlx_vector_array_new_data), standing in for shared C++ references. */
typedef struct { uint32_t magic; int n; int owned; arr_t* items[MAXVEC]; } vec_t;
typedef struct { uint32_t magic; char* s; } str_t;

/* ---- global state ---- */
typedef void (*handler_fn)(const char* msg, void* data);
static void default_handler(const char* msg, void* data) {
  (void)data;
  printf("MLX error: %s\n", msg);
  exit(-1);
}
static handler_fn g_handler = default_handler;
static int g_handler_installed = 0;
static long g_live = 0;
static long g_calls_before_handler = 0;
static long g_foreign_calls = 0;
static long g_contiguous_calls = 0;
static long g_clear_cache_calls = 0;
static long g_cache_limit = -1;
static int g_next_noncontiguous = 0;
static int g_owner_set = 0;
static pthread_t g_owner;
static char g_last_call[512];

static void touch(void) {
  if (!g_handler_installed) g_calls_before_handler++;
  if (g_owner_set && !pthread_equal(g_owner, pthread_self())) g_foreign_calls++;
}

static void fail(const char* fmt, const char* arg) {
  char buf[512];
  char msg[400];
  snprintf(msg, sizeof msg, fmt, arg ? arg : "");
  /* mlx-c appends " at <file>:<line>" */
  snprintf(buf, sizeof buf, "%s at fakemlxc.c:%d", msg, __LINE__);
  g_handler(buf, NULL);
}

/* ---- error handler and version ---- */
EXPORT void mlx_set_error_handler(handler_fn handler, void* data, void (*dtor)(void*)) {
  (void)data;
  (void)dtor;
  g_handler = handler ? handler : default_handler;
  g_handler_installed = handler != NULL;
}

static str_t* get_str(mlx_string s) {
  str_t* p = (str_t*)s.ctx;
  return (p && p->magic == MAGIC_STRING) ? p : NULL;
}

EXPORT mlx_string mlx_string_new(void) {
  touch();
  mlx_string s = {NULL};
  return s;
}
EXPORT const char* mlx_string_data(mlx_string s) {
  touch();
  str_t* p = get_str(s);
  return p ? p->s : NULL;
}
EXPORT int mlx_string_free(mlx_string s) {
  touch();
  str_t* p = get_str(s);
  if (!p) return 0;
  free(p->s);
  p->magic = 0;
  free(p);
  g_live--;
  return 0;
}

#ifdef FAKE_NEEDS_CORE
extern int fake_core_answer(void);
#endif

EXPORT int mlx_version(mlx_string* res) {
  touch();
#ifdef FAKE_VERSION_FAIL
  fail("fake: version failure%s", "");
  return 1;
#else
  const char* v = "0.0.0-fake";
#ifdef FAKE_NEEDS_CORE
  if (fake_core_answer() == 42) v = "0.0.0-fake+core";
#endif
  str_t* p = get_str(*res);
  if (!p) {
    p = calloc(1, sizeof *p);
    p->magic = MAGIC_STRING;
    g_live++;
    res->ctx = p;
  }
  free(p->s);
  p->s = strdup(v);
  return 0;
#endif
}

/* ---- streams ---- */
static stream_t* new_stream(int gpu) {
  stream_t* p = calloc(1, sizeof *p);
  p->magic = MAGIC_STREAM;
  p->gpu = gpu;
  p->owner = pthread_self();
  g_owner = p->owner;
  g_owner_set = 1;
  g_live++;
  return p;
}

EXPORT mlx_stream mlx_default_cpu_stream_new(void) {
  touch();
  mlx_stream s = {new_stream(0)};
  return s;
}
EXPORT mlx_stream mlx_default_gpu_stream_new(void) {
  touch();
  mlx_stream s = {NULL};
#ifdef FAKE_METAL
  s.ctx = new_stream(1);
#else
  fail("[default_stream] Cannot get gpu stream without gpu backend.%s", "");
#endif
  return s;
}
EXPORT int mlx_stream_free(mlx_stream s) {
  touch();
  stream_t* p = (stream_t*)s.ctx;
  if (!p) return 0;
  if (p->magic != MAGIC_STREAM) {
    fail("fake: mlx_stream_free: bad handle%s", "");
    return 1;
  }
  p->magic = 0;
  free(p);
  g_live--;
  return 0;
}

/* Checks a stream argument: valid handle, owned by the calling thread. */
static int check_stream(mlx_stream s, const char* op) {
  stream_t* p = (stream_t*)s.ctx;
  if (!p || p->magic != MAGIC_STREAM) {
    fail("fake: %s: bad stream handle", op);
    return 1;
  }
  if (!pthread_equal(p->owner, pthread_self())) {
    fail("There is no Stream(%s, 0) in current thread.", p->gpu ? "gpu" : "cpu");
    return 1;
  }
  return 0;
}

EXPORT int mlx_synchronize(mlx_stream s) {
  touch();
  return check_stream(s, "synchronize");
}
EXPORT int mlx_metal_is_available(bool* res) {
  touch();
#ifdef FAKE_METAL
  *res = true;
#else
  *res = false;
#endif
  return 0;
}
#if FAKE_ABI >= 5
EXPORT int mlx_cuda_is_available(bool* res) {
  touch();
  *res = false;
  return 0;
}
#endif
#if FAKE_ABI >= 6
EXPORT int mlx_bartlett(mlx_array* res, int m, const mlx_stream s) {
  (void)res; (void)m; (void)s;
  touch();
  fail("fake: mlx_bartlett is a probe only%s", "");
  return 1;
}
#endif

EXPORT int mlx_set_cache_limit(size_t* res, size_t limit) {
  touch();
  *res = g_cache_limit < 0 ? (size_t)123456 : (size_t)g_cache_limit;
  g_cache_limit = (long)limit;
  return 0;
}
EXPORT int mlx_clear_cache(void) {
  touch();
  g_clear_cache_calls++;
  return 0;
}

/* ---- arrays ---- */
static arr_t* get_arr(mlx_array a) {
  arr_t* p = (arr_t*)a.ctx;
  return (p && p->magic == MAGIC_ARRAY) ? p : NULL;
}

static size_t numel(const int* shape, int ndim) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
  return n;
}

static arr_t* alloc_arr(int dtype, const int* shape, int ndim) {
  arr_t* p = calloc(1, sizeof *p);
  p->magic = MAGIC_ARRAY;
  p->dtype = dtype;
  p->ndim = ndim;
  for (int i = 0; i < ndim; i++) p->shape[i] = shape[i];
  p->nbytes = numel(shape, ndim) * dtype_size[dtype];
  p->data = calloc(p->nbytes ? p->nbytes : 1, 1);
  p->row_contiguous = 1;
  g_live++;
  return p;
}

/* An op result: lazy (must be evaluated before reading). */
static arr_t* op_result(int dtype, const int* shape, int ndim) {
  arr_t* p = alloc_arr(dtype, shape, ndim);
  p->evaluated = 0;
  if (g_next_noncontiguous) {
    p->row_contiguous = 0;
    g_next_noncontiguous = 0;
  }
  return p;
}

static void free_arr(arr_t* p) {
  free(p->data);
  p->magic = 0;
  free(p);
  g_live--;
}

/* Stores p into *res following the mlx-c out-param convention. */
static void set_result(mlx_array* res, arr_t* p) {
  arr_t* old = get_arr(*res);
  if (old) free_arr(old);
  res->ctx = p;
}

EXPORT mlx_array mlx_array_new(void) {
  touch();
  mlx_array a = {NULL};
  return a;
}
EXPORT int mlx_array_free(mlx_array a) {
  touch();
  if (!a.ctx) return 0;
  arr_t* p = get_arr(a);
  if (!p) {
    fail("fake: mlx_array_free: bad handle%s", "");
    return 1;
  }
  free_arr(p);
  return 0;
}
EXPORT mlx_array mlx_array_new_data(const void* data, const int* shape, int dim, int dtype) {
  touch();
  mlx_array a = {NULL};
  if (dim < 0 || dim > MAXDIM || dtype < 0 || dtype > MLX_COMPLEX64) {
    fail("fake: mlx_array_new_data: bad arguments%s", "");
    return a;
  }
  for (int i = 0; i < dim; i++) {
    if (shape[i] < 0) {
      fail("fake: mlx_array_new_data: negative dimension%s", "");
      return a;
    }
  }
  arr_t* p = alloc_arr(dtype, shape, dim);
  memcpy(p->data, data, p->nbytes);
  p->evaluated = 1;
  a.ctx = p;
  return a;
}
EXPORT size_t mlx_array_nbytes(const mlx_array a) {
  touch();
  arr_t* p = get_arr(a);
  return p ? p->nbytes : 0;
}
EXPORT size_t mlx_array_ndim(const mlx_array a) {
  touch();
  arr_t* p = get_arr(a);
  return p ? (size_t)p->ndim : 0;
}
EXPORT int mlx_array_dim(const mlx_array a, int dim) {
  touch();
  arr_t* p = get_arr(a);
  return (p && dim >= 0 && dim < p->ndim) ? p->shape[dim] : 0;
}
EXPORT int mlx_array_dtype(const mlx_array a) {
  touch();
  arr_t* p = get_arr(a);
  return p ? p->dtype : 0;
}
EXPORT const uint8_t* mlx_array_data_uint8(const mlx_array a) {
  touch();
  arr_t* p = get_arr(a);
  if (!p) {
    fail("fake: mlx_array_data_uint8: bad handle%s", "");
    return NULL;
  }
  if (!p->evaluated) {
    /* real MLX dereferences a null buffer here and crashes */
    fail("fake: data of an unevaluated array%s", "");
    return NULL;
  }
  return p->data;
}
EXPORT int mlx_array_eval(mlx_array a) {
  touch();
  arr_t* p = get_arr(a);
  if (!p) {
    fail("fake: mlx_array_eval: bad handle%s", "");
    return 1;
  }
  p->evaluated = 1;
  return 0;
}
EXPORT int _mlx_array_is_row_contiguous(bool* res, const mlx_array a) {
  touch();
  arr_t* p = get_arr(a);
  if (!p) {
    fail("fake: _mlx_array_is_row_contiguous: bad handle%s", "");
    return 1;
  }
  *res = p->row_contiguous != 0;
  return 0;
}

/* ---- vectors ---- */
static vec_t* get_vec(mlx_vector_array v) {
  vec_t* p = (vec_t*)v.ctx;
  return (p && p->magic == MAGIC_VECTOR) ? p : NULL;
}
static arr_t* copy_arr(const arr_t* src) {
  arr_t* p = alloc_arr(src->dtype, src->shape, src->ndim);
  memcpy(p->data, src->data, src->nbytes);
  p->evaluated = src->evaluated;
  p->row_contiguous = src->row_contiguous;
  return p;
}
static vec_t* new_vec(void) {
  vec_t* p = calloc(1, sizeof *p);
  p->magic = MAGIC_VECTOR;
  g_live++;
  return p;
}
EXPORT mlx_vector_array mlx_vector_array_new(void) {
  touch();
  mlx_vector_array v = {new_vec()};
  return v;
}
/* The vector borrows the arrays, so mlx_eval evaluates them in place, as
 * it does with shared C++ arrays. */
EXPORT mlx_vector_array mlx_vector_array_new_data(const mlx_array* data, size_t size) {
  touch();
  mlx_vector_array v = {NULL};
  if (size > MAXVEC) {
    fail("fake: vector too long%s", "");
    return v;
  }
  vec_t* p = new_vec();
  for (size_t i = 0; i < size; i++) {
    arr_t* a = get_arr(data[i]);
    if (!a) {
      fail("fake: mlx_vector_array_new_data: bad array handle%s", "");
      p->magic = 0;
      free(p);
      g_live--;
      return v;
    }
    p->items[p->n++] = a;
  }
  v.ctx = p;
  return v;
}
EXPORT int mlx_vector_array_free(mlx_vector_array v) {
  touch();
  vec_t* p = get_vec(v);
  if (!p) return 0;
  if (p->owned) {
    for (int i = 0; i < p->n; i++) free_arr(p->items[i]);
  }
  p->magic = 0;
  free(p);
  g_live--;
  return 0;
}
EXPORT size_t mlx_vector_array_size(mlx_vector_array v) {
  touch();
  vec_t* p = get_vec(v);
  return p ? (size_t)p->n : 0;
}
EXPORT int mlx_vector_array_get(mlx_array* res, const mlx_vector_array v, size_t idx) {
  touch();
  vec_t* p = get_vec(v);
  if (!p || idx >= (size_t)p->n) {
    fail("fake: mlx_vector_array_get: bad vector or index%s", "");
    return 1;
  }
  /* A new reference: the caller frees it. */
  set_result(res, copy_arr(p->items[idx]));
  return 0;
}
EXPORT int mlx_eval(const mlx_vector_array v) {
  touch();
  vec_t* p = get_vec(v);
  if (!p) {
    fail("fake: mlx_eval: bad vector%s", "");
    return 1;
  }
  for (int i = 0; i < p->n; i++) p->items[i]->evaluated = 1;
  return 0;
}

/* ---- element conversion ---- */
static float bf16_to_f(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static uint16_t f_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  u += ((u >> 16) & 1) + 0x7fff;
  return (uint16_t)(u >> 16);
}
static double load_elem(const arr_t* a, size_t i) {
  const uint8_t* d = a->data;
  switch (a->dtype) {
    case MLX_BOOL: return d[i] != 0;
    case MLX_UINT8: return d[i];
    case MLX_UINT16: return ((const uint16_t*)d)[i];
    case MLX_UINT32: return ((const uint32_t*)d)[i];
    case MLX_UINT64: return (double)((const uint64_t*)d)[i];
    case MLX_INT8: return ((const int8_t*)d)[i];
    case MLX_INT16: return ((const int16_t*)d)[i];
    case MLX_INT32: return ((const int32_t*)d)[i];
    case MLX_INT64: return (double)((const int64_t*)d)[i];
    case MLX_FLOAT16: return (double)((const _Float16*)d)[i];
    case MLX_FLOAT32: return ((const float*)d)[i];
    case MLX_FLOAT64: return ((const double*)d)[i];
    case MLX_BFLOAT16: return bf16_to_f(((const uint16_t*)d)[i]);
  }
  return 0;
}
static void store_elem(arr_t* a, size_t i, double v) {
  uint8_t* d = a->data;
  switch (a->dtype) {
    case MLX_BOOL: d[i] = v != 0; break;
    case MLX_UINT8: d[i] = (uint8_t)v; break;
    case MLX_UINT16: ((uint16_t*)d)[i] = (uint16_t)v; break;
    case MLX_UINT32: ((uint32_t*)d)[i] = (uint32_t)v; break;
    case MLX_UINT64: ((uint64_t*)d)[i] = (uint64_t)v; break;
    case MLX_INT8: ((int8_t*)d)[i] = (int8_t)v; break;
    case MLX_INT16: ((int16_t*)d)[i] = (int16_t)v; break;
    case MLX_INT32: ((int32_t*)d)[i] = (int32_t)v; break;
    case MLX_INT64: ((int64_t*)d)[i] = (int64_t)v; break;
    /* float first, as MLX's f32 -> f16 cast does */
    case MLX_FLOAT16: ((_Float16*)d)[i] = (_Float16)(float)v; break;
    case MLX_FLOAT32: ((float*)d)[i] = (float)v; break;
    case MLX_FLOAT64: ((double*)d)[i] = v; break;
    case MLX_BFLOAT16: ((uint16_t*)d)[i] = f_to_bf16((float)v); break;
  }
}

/* ---- ops ---- */
EXPORT int mlx_view(mlx_array* res, const mlx_array a, int dtype, const mlx_stream s) {
  touch();
  if (check_stream(s, "view")) return 1;
  arr_t* p = get_arr(a);
  if (!p || dtype < 0 || dtype > MLX_COMPLEX64) {
    fail("fake: mlx_view: bad arguments%s", "");
    return 1;
  }
  if (dtype_size[dtype] != dtype_size[p->dtype]) {
    fail("fake: mlx_view only supports same-size dtypes%s", "");
    return 1;
  }
  arr_t* r = op_result(dtype, p->shape, p->ndim);
  memcpy(r->data, p->data, p->nbytes);
  set_result(res, r);
  return 0;
}

#ifndef FAKE_OMIT_ASTYPE
EXPORT int mlx_astype(mlx_array* res, const mlx_array a, int dtype, const mlx_stream s) {
  touch();
  if (check_stream(s, "astype")) return 1;
  arr_t* p = get_arr(a);
  if (!p || dtype < 0 || dtype >= MLX_COMPLEX64 || p->dtype == MLX_COMPLEX64) {
    fail("fake: mlx_astype: unsupported%s", "");
    return 1;
  }
  arr_t* r = op_result(dtype, p->shape, p->ndim);
  size_t n = numel(p->shape, p->ndim);
  for (size_t i = 0; i < n; i++) store_elem(r, i, load_elem(p, i));
  set_result(res, r);
  return 0;
}
#endif

EXPORT int mlx_contiguous(mlx_array* res, const mlx_array a, bool allow_col_major, const mlx_stream s) {
  (void)allow_col_major;
  touch();
  if (check_stream(s, "contiguous")) return 1;
  arr_t* p = get_arr(a);
  if (!p) {
    fail("fake: mlx_contiguous: bad handle%s", "");
    return 1;
  }
  g_contiguous_calls++;
  arr_t* r = op_result(p->dtype, p->shape, p->ndim);
  r->row_contiguous = 1;
  memcpy(r->data, p->data, p->nbytes);
  set_result(res, r);
  return 0;
}

static const char* dtype_name(int d) {
  static const char* names[] = {"bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
                                "int32", "int64", "float16", "float32", "float64", "bfloat16",
                                "complex64"};
  return (d >= 0 && d <= MLX_COMPLEX64) ? names[d] : "?";
}

static void record(const char* op, mlx_optional_int gs, mlx_optional_int bits, const char* mode,
                   int gscale_given, float gscale, int dtype_has, int dtype) {
  char g[32] = "none";
  if (gscale_given) snprintf(g, sizeof g, "%g", gscale);
  snprintf(g_last_call, sizeof g_last_call,
           "%s mode=%s gs=%d/%d bits=%d/%d gscale=%s dtype=%s/%d", op, mode, gs.value,
           gs.has_value, bits.value, bits.has_value, g, dtype_has ? dtype_name(dtype) : "none",
           dtype_has);
}

static int mode_defaults(const char* mode, int* gs, int* bits, int* fp) {
  if (!strcmp(mode, "affine")) { *gs = 64; *bits = 4; *fp = 0; return 0; }
  if (!strcmp(mode, "mxfp4")) { *gs = 32; *bits = 4; *fp = 1; return 0; }
  if (!strcmp(mode, "nvfp4")) { *gs = 16; *bits = 4; *fp = 1; return 0; }
  if (!strcmp(mode, "mxfp8")) { *gs = 32; *bits = 8; *fp = 1; return 0; }
  return 1;
}

static void put_bits(uint8_t* words, size_t bitpos, uint32_t q, int bits) {
  for (int b = 0; b < bits; b++, bitpos++) {
    if (q >> b & 1) words[bitpos / 8] |= (uint8_t)(1u << (bitpos % 8));
  }
}
static uint32_t get_bits(const uint8_t* words, size_t bitpos, int bits) {
  uint32_t q = 0;
  for (int b = 0; b < bits; b++, bitpos++) q |= (uint32_t)(words[bitpos / 8] >> (bitpos % 8) & 1) << b;
  return q;
}

/* Shared body of both quantize arities. */
static int quantize_impl(mlx_vector_array* res, const mlx_array w, mlx_optional_int group_size,
                         mlx_optional_int bits_opt, const char* mode, arr_t* gscale,
                         const mlx_stream s) {
  touch();
  if (check_stream(s, "quantize")) return 1;
  arr_t* p = get_arr(w);
  if (!p) {
    fail("fake: mlx_quantize: bad weight handle%s", "");
    return 1;
  }
  record("quantize", group_size, bits_opt, mode, gscale != NULL,
         gscale ? (float)load_elem(gscale, 0) : 0, 0, 0);
  int gs, bits, fp;
  if (mode_defaults(mode, &gs, &bits, &fp)) {
    fail("Invalid quantization mode '%s'.", mode);
    return 1;
  }
  if (group_size.has_value) gs = group_size.value;
  if (bits_opt.has_value) bits = bits_opt.value;
  if (p->ndim < 2) {
    fail("[quantize] The matrix to be quantized must have at least 2 dimensions%s", "");
    return 1;
  }
  if (p->dtype != MLX_FLOAT32 && p->dtype != MLX_FLOAT16 && p->dtype != MLX_BFLOAT16) {
    fail("[quantize] Only real floating types can be quantized, got %s.", dtype_name(p->dtype));
    return 1;
  }
  int k = p->shape[p->ndim - 1];
  if (gs <= 0 || bits <= 0 || bits > 8 || k % gs != 0) {
    fail("[quantize] The last dimension of the matrix needs to be divisible by the quantization group size%s", "");
    return 1;
  }
  if (gscale && strcmp(mode, "nvfp4")) {
    fail("[quantize] Global scale is only supported for nvfp4, got %s.", mode);
    return 1;
  }
  size_t n = numel(p->shape, p->ndim);
  size_t groups = n / (size_t)gs;
  int shape[MAXDIM];
  memcpy(shape, p->shape, sizeof shape);
  shape[p->ndim - 1] = k * bits / 32;
  arr_t* wq = op_result(MLX_UINT32, shape, p->ndim);
  shape[p->ndim - 1] = k / gs;
  arr_t* scales = op_result(fp ? MLX_UINT8 : p->dtype, shape, p->ndim);
  arr_t* biases = fp ? NULL : op_result(p->dtype, shape, p->ndim);
  if (fp) {
    memset(scales->data, 127, scales->nbytes);
  } else {
    /* textbook affine quantization (not MLX's exact rules) */
    float nbins = (float)((1 << bits) - 1);
    for (size_t g = 0; g < groups; g++) {
      float lo = INFINITY, hi = -INFINITY;
      for (int j = 0; j < gs; j++) {
        float x = (float)load_elem(p, g * gs + j);
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      float scale = (hi - lo) / nbins;
      if (scale == 0) scale = 1;
      store_elem(scales, g, scale);
      store_elem(biases, g, lo);
      for (int j = 0; j < gs; j++) {
        float x = (float)load_elem(p, g * gs + j);
        float q = rintf((x - lo) / scale);
        if (q < 0) q = 0;
        if (q > nbins) q = nbins;
        put_bits(wq->data, (g * gs + j) * (size_t)bits, (uint32_t)q, bits);
      }
    }
  }
  vec_t* v = get_vec(*res);
  if (v) {
    if (v->owned) {
      for (int i = 0; i < v->n; i++) free_arr(v->items[i]);
    }
  } else {
    v = new_vec();
    res->ctx = v;
  }
  v->owned = 1;
  v->n = 0;
  v->items[v->n++] = wq;
  v->items[v->n++] = scales;
  if (biases) v->items[v->n++] = biases;
  return 0;
}

#if FAKE_ABI >= 6
EXPORT int mlx_quantize(mlx_vector_array* res, const mlx_array w, mlx_optional_int group_size,
                        mlx_optional_int bits, const char* mode, const mlx_array global_scale,
                        const mlx_stream s) {
  arr_t* g = NULL;
  if (global_scale.ctx) {
    g = get_arr(global_scale);
    if (!g) {
      fail("fake: mlx_quantize: bad global_scale handle%s", "");
      return 1;
    }
  }
  return quantize_impl(res, w, group_size, bits, mode, g, s);
}
#else
EXPORT int mlx_quantize(mlx_vector_array* res, const mlx_array w, mlx_optional_int group_size,
                        mlx_optional_int bits, const char* mode, const mlx_stream s) {
  return quantize_impl(res, w, group_size, bits, mode, NULL, s);
}
#endif

static int dequantize_impl(mlx_array* res, const mlx_array w, const mlx_array scales,
                           const mlx_array biases, mlx_optional_int group_size,
                           mlx_optional_int bits_opt, const char* mode, arr_t* gscale,
                           mlx_optional_dtype dtype, const mlx_stream s) {
  touch();
  if (check_stream(s, "dequantize")) return 1;
  arr_t* pw = get_arr(w);
  arr_t* ps = get_arr(scales);
  arr_t* pb = biases.ctx ? get_arr(biases) : NULL;
  if (!pw || !ps || (biases.ctx && !pb)) {
    fail("fake: mlx_dequantize: bad handle%s", "");
    return 1;
  }
  record("dequantize", group_size, bits_opt, mode, gscale != NULL,
         gscale ? (float)load_elem(gscale, 0) : 0, dtype.has_value, dtype.value);
  int gs, bits, fp;
  if (mode_defaults(mode, &gs, &bits, &fp)) {
    fail("Invalid quantization mode '%s'.", mode);
    return 1;
  }
  if (group_size.has_value) gs = group_size.value;
  if (bits_opt.has_value) bits = bits_opt.value;
  if (pw->dtype != MLX_UINT32 || pw->ndim < 2) {
    fail("[dequantize] The matrix should be given as a uint32%s", "");
    return 1;
  }
  if (!fp && !pb) {
    fail("[dequantize] Biases must be provided for affine quantization.%s", "");
    return 1;
  }
  if (fp && pb) {
    fail("[dequantize] Biases are not supported for %s.", mode);
    return 1;
  }
  int out_dtype = dtype.has_value ? dtype.value : (fp ? MLX_BFLOAT16 : ps->dtype);
  int shape[MAXDIM];
  memcpy(shape, pw->shape, sizeof shape);
  int k = pw->shape[pw->ndim - 1] * 32 / bits;
  shape[pw->ndim - 1] = k;
  arr_t* r = op_result(out_dtype, shape, pw->ndim);
  if (!fp) {
    size_t n = numel(shape, pw->ndim);
    for (size_t i = 0; i < n; i++) {
      size_t g = i / (size_t)gs;
      double q = get_bits(pw->data, i * (size_t)bits, bits);
      store_elem(r, i, q * load_elem(ps, g) + load_elem(pb, g));
    }
  }
  set_result(res, r);
  return 0;
}

#if FAKE_ABI >= 6
EXPORT int mlx_dequantize(mlx_array* res, const mlx_array w, const mlx_array scales,
                          const mlx_array biases, mlx_optional_int group_size,
                          mlx_optional_int bits, const char* mode, const mlx_array global_scale,
                          mlx_optional_dtype dtype, const mlx_stream s) {
  arr_t* g = NULL;
  if (global_scale.ctx) {
    g = get_arr(global_scale);
    if (!g) {
      fail("fake: mlx_dequantize: bad global_scale handle%s", "");
      return 1;
    }
  }
  return dequantize_impl(res, w, scales, biases, group_size, bits, mode, g, dtype, s);
}
#else
EXPORT int mlx_dequantize(mlx_array* res, const mlx_array w, const mlx_array scales,
                          const mlx_array biases, mlx_optional_int group_size,
                          mlx_optional_int bits, const char* mode, mlx_optional_dtype dtype,
                          const mlx_stream s) {
  return dequantize_impl(res, w, scales, biases, group_size, bits, mode, NULL, dtype, s);
}
#endif

#if FAKE_ABI >= 4
EXPORT int mlx_to_fp8(mlx_array* res, const mlx_array x, const mlx_stream s) {
  (void)res; (void)x; (void)s;
  touch();
  fail("fake: mlx_to_fp8 is a probe only%s", "");
  return 1;
}
#endif

/* ---- test hooks ---- */
EXPORT long fake_live(void) { return g_live; }
EXPORT long fake_calls_before_handler(void) { return g_calls_before_handler; }
EXPORT long fake_foreign_calls(void) { return g_foreign_calls; }
EXPORT long fake_contiguous_calls(void) { return g_contiguous_calls; }
EXPORT long fake_clear_cache_calls(void) { return g_clear_cache_calls; }
EXPORT long fake_cache_limit(void) { return g_cache_limit; }
EXPORT void fake_set_next_noncontiguous(void) { g_next_noncontiguous = 1; }
EXPORT const char* fake_last_call(void) { return g_last_call; }
