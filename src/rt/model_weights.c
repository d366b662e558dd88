/* Weight lookup and shape checks shared by the architecture loaders: matrices
 * stay in the mmapped file when their layout and alignment allow, otherwise
 * (GPT-2 Conv1D transpose, unaligned data, requested dtype conversion, f32 on
 * the AVX2 kernel) they get an owned copy; dtype INT8 quantises every matrix.
 * Small vectors (norms, biases) are always f32 copies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/err.h"
#include "rt/model_impl.h"

static int own_reserve(ep_model *m) {
  if (m->nowned < m->capowned) return EP_OK;
  size_t nc = m->capowned ? m->capowned * 2 : 64;
  void **n = realloc(m->owned, nc * sizeof *n);
  if (!n) return EP_ENOMEM;
  m->owned = n;
  m->capowned = nc;
  return EP_OK;
}

void *ep__own(ep_model *m, size_t bytes) {
  if (own_reserve(m) != EP_OK) return NULL;
  void *p = calloc(1, bytes ? bytes : 1);
  if (p) m->owned[m->nowned++] = p;
  return p;
}

/* Streamed weights (Q8, F16/BF16 copies, F32 on the AVX2 kernel) live in 2 MiB-
 * aligned chunks of >= 32 MiB marked MADV_HUGEPAGE:
 * the int8 GEMV streams every weight once per token, and on 4 KiB pages (one
 * small mmap per matrix) it measured ~25% slower (bench/bench_gemv.c: the
 * TLB misses and the 4 KiB-bounded hardware prefetch cost more than the
 * arithmetic). Matrices are placed back to back, 64-byte aligned; a chunk's
 * tail that a matrix does not fit in is left unused. */
#define HP_CHUNK_ALIGN ((size_t)2 << 20)
#define HP_CHUNK_MIN ((size_t)32 << 20)

static void *hp_alloc(ep_model *m, size_t bytes) {
  bytes = (bytes + 63) & ~(size_t)63;
  if (bytes > m->hp_left) {
    size_t sz = bytes > HP_CHUNK_MIN ? bytes : HP_CHUNK_MIN;
    sz = (sz + HP_CHUNK_ALIGN - 1) & ~(HP_CHUNK_ALIGN - 1);
    if (own_reserve(m) != EP_OK) return NULL;
    uint8_t *c = aligned_alloc(HP_CHUNK_ALIGN, sz);
    if (!c) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(c, sz, MADV_HUGEPAGE); /* a hint: without THP the chunk is just memory */
#endif
    m->owned[m->nowned++] = c;
    m->hp_next = c;
    m->hp_left = sz;
  }
  void *p = m->hp_next;
  m->hp_next += bytes;
  m->hp_left -= bytes;
  return p;
}

/* f32 matrices for the AVX2 kernel are copied into the same chunks (the GEMV
 * streams them like Q8 ones), and the file pages they came from are dropped so
 * resident memory does not double. EP_NO_HUGEPAGE_COPY=1 keeps them mmapped. */
static int f32_copy_wanted(void) {
  const char *off = getenv("EP_NO_HUGEPAGE_COPY"), *kern = getenv("EP_KERN");
  if (off && strcmp(off, "0") != 0) return 0;
  if (kern && strcmp(kern, "ref") == 0) return 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init(); /* the test ep_kern_new uses to pick its AVX2 kernel */
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return 0;
#endif
}

static void drop_file_pages(const void *p, size_t bytes) {
  long ps = sysconf(_SC_PAGESIZE);
  uintptr_t pg = ps > 0 ? (uintptr_t)ps : 4096;
  uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + bytes) & ~(pg - 1);
  /* private read-only file map: a page touched again is re-read from the file */
  if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

static int w_fail(char *err, size_t errsz, int code, const char *name, const char *what) {
  snprintf(err, errsz, "tensor '%s': %s", name, what);
  return code;
}

static int wtype_of(ep_st_dtype dt, ep_kern_wtype *wt) {
  switch (dt) {
  case EP_ST_F32: *wt = EP_KW_F32; return 1;
  case EP_ST_F16: *wt = EP_KW_F16; return 1;
  case EP_ST_BF16: *wt = EP_KW_BF16; return 1;
  default: return 0;
  }
}

static const ep_st_tensor *find2(ep_model *m, const char *name, int rows, int cols, ep_kern_wtype *wt,
                                 char *err, size_t errsz, int *rc) {
  const ep_st_tensor *t = ep_st_find(m->st, name);
  char msg[160];
  if (!t) {
    *rc = w_fail(err, errsz, EP_ENOTFOUND, name, "missing from the checkpoint");
    return NULL;
  }
  if (!wtype_of(t->dtype, wt)) {
    snprintf(msg, sizeof msg, "dtype %s not supported for weights (F32, F16, BF16)",
             ep_st_dtype_name(t->dtype));
    *rc = w_fail(err, errsz, EP_EUNSUPPORTED, name, msg);
    return NULL;
  }
  int ok = cols > 0 ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                    : (t->numel == rows && t->ndim >= 1);
  if (!ok) {
    snprintf(msg, sizeof msg, "shape [%lld%s%s] does not match the config (expected [%d%s])",
             (long long)(t->ndim ? t->shape[0] : 1), t->ndim > 1 ? ", ..." : "", "", rows,
             cols > 0 ? ", cols" : "");
    if (cols > 0 && t->ndim == 2)
      snprintf(msg, sizeof msg, "shape [%lld, %lld] does not match the config (expected [%d, %d])",
               (long long)t->shape[0], (long long)t->shape[1], rows, cols);
    *rc = w_fail(err, errsz, EP_EINVAL, name, msg);
    return NULL;
  }
  return t;
}

static ep_kern_wtype wanted(ep_model *m, ep_kern_wtype have) {
  if (m->params.dtype == EP_DTYPE_INT8) return EP_KW_Q8;
  if (have != EP_KW_F32) return have;
  if (m->params.dtype == EP_DTYPE_F16) return EP_KW_F16;
  if (m->params.dtype == EP_DTYPE_BF16) return EP_KW_BF16;
  return EP_KW_F32;
}

/* copy n elements from src (type have) to dst (type want), converting */
static void convert(void *dst, ep_kern_wtype want, const void *src, ep_kern_wtype have, size_t n) {
  if (want == have) {
    memcpy(dst, src, n * (have == EP_KW_F32 ? 4 : 2));
    return;
  }
  float tmp[256];
  for (size_t i = 0; i < n; i += 256) {
    size_t c = n - i < 256 ? n - i : 256;
    ep_kern_to_f32(tmp, (const uint8_t *)src + i * (have == EP_KW_F32 ? 4 : 2), have, c);
    for (size_t j = 0; j < c; j++) {
      if (want == EP_KW_F32) {
        ((float *)dst)[i + j] = tmp[j];
      } else {
        uint16_t h = want == EP_KW_F16 ? ep_f32_to_f16(tmp[j]) : ep_f32_to_bf16(tmp[j]);
        memcpy((uint8_t *)dst + 2 * (i + j), &h, 2);
      }
    }
  }
}

/* Q8 copy [out, in] quantised row by row; element (o, i) of the source is at
 * src + (o*so + i*si) elements of type have. */
static int quantize_rows(ep_model *m, const char *name, ep_mat *dst, const void *src, ep_kern_wtype have,
                         int out, int in, size_t so, size_t si, char *err, size_t errsz) {
  size_t rb = ep_kern_row_bytes(EP_KW_Q8, in), esz = have == EP_KW_F32 ? 4 : 2;
  uint8_t *copy = hp_alloc(m, rb * (size_t)out);
  float *row = malloc((size_t)in * sizeof(float));
  if (!copy || !row) {
    free(row);
    return w_fail(err, errsz, EP_ENOMEM, name, "out of memory");
  }
  for (int o = 0; o < out; o++) {
    const uint8_t *s = (const uint8_t *)src + (size_t)o * so * esz;
    if (si == 1) ep_kern_to_f32(row, s, have, (size_t)in);
    else
      for (int i = 0; i < in; i++) ep_kern_to_f32(row + i, s + (size_t)i * si * esz, have, 1);
    ep_kern_quantize_q8(copy + (size_t)o * rb, row, in);
  }
  free(row);
  dst->data = copy;
  dst->wt = EP_KW_Q8;
  dst->out = out;
  dst->in = in;
  return EP_OK;
}

int ep__mat(ep_model *m, const char *name, int out, int in, ep_mat *dst, char *err, size_t errsz) {
  ep_kern_wtype wt;
  int rc = EP_OK;
  const ep_st_tensor *t = find2(m, name, out, in, &wt, err, errsz, &rc);
  if (!t) return rc;
  ep_kern_wtype want = wanted(m, wt);
  if (want == EP_KW_Q8) return quantize_rows(m, name, dst, t->data, wt, out, in, (size_t)in, 1, err, errsz);
  size_t esz = wt == EP_KW_F32 ? 4 : 2;
  dst->out = out;
  dst->in = in;
  dst->wt = want;
  if (want == wt && (uintptr_t)t->data % esz == 0 && (wt != EP_KW_F32 || !f32_copy_wanted())) {
    dst->data = t->data;
    return EP_OK;
  }
  if (want == wt && wt == EP_KW_F32 && (uintptr_t)t->data % esz == 0) {
    void *c = hp_alloc(m, (size_t)t->numel * 4);
    if (!c) return w_fail(err, errsz, EP_ENOMEM, name, "out of memory");
    memcpy(c, t->data, (size_t)t->numel * 4);
    drop_file_pages(t->data, (size_t)t->numel * 4);
    dst->data = c;
    return EP_OK;
  }
  /* F16/BF16 copies are streamed like Q8 ones: same huge-page chunks (measured ~15% faster) */
  void *copy = want == EP_KW_F32 ? ep__own(m, (size_t)t->numel * 4) : hp_alloc(m, (size_t)t->numel * 2);
  if (!copy) return w_fail(err, errsz, EP_ENOMEM, name, "out of memory");
  convert(copy, want, t->data, wt, (size_t)t->numel);
  dst->data = copy;
  return EP_OK;
}

int ep__mat_t(ep_model *m, const char *name, int in, int out, ep_mat *dst, char *err, size_t errsz) {
  ep_kern_wtype wt;
  int rc = EP_OK;
  const ep_st_tensor *t = find2(m, name, in, out, &wt, err, errsz, &rc);
  if (!t) return rc;
  ep_kern_wtype want = wanted(m, wt);
  if (want == EP_KW_Q8) return quantize_rows(m, name, dst, t->data, wt, out, in, 1, (size_t)out, err, errsz);
  size_t esz = wt == EP_KW_F32 ? 4 : 2, wsz = want == EP_KW_F32 ? 4 : 2;
  uint8_t *copy = want == EP_KW_F32 ? ep__own(m, (size_t)t->numel * wsz) : hp_alloc(m, (size_t)t->numel * wsz);
  if (!copy) return w_fail(err, errsz, EP_ENOMEM, name, "out of memory");
  const uint8_t *src = t->data;
  for (int i = 0; i < in; i++)
    for (int o = 0; o < out; o++)
      convert(copy + ((size_t)o * in + i) * wsz, want, src + ((size_t)i * out + o) * esz, wt, 1);
  dst->data = copy;
  dst->wt = want;
  dst->out = out;
  dst->in = in;
  return EP_OK;
}

int ep__vec(ep_model *m, const char *name, int n, int optional, float **dst, char *err, size_t errsz) {
  *dst = NULL;
  if (optional && !ep_st_find(m->st, name)) return EP_OK;
  ep_kern_wtype wt;
  int rc = EP_OK;
  const ep_st_tensor *t = find2(m, name, n, 0, &wt, err, errsz, &rc);
  if (!t) return rc;
  float *v = ep__own(m, (size_t)n * sizeof(float));
  if (!v) return w_fail(err, errsz, EP_ENOMEM, name, "out of memory");
  convert(v, EP_KW_F32, t->data, wt, (size_t)n);
  ep_kern_wtype want = wanted(m, wt);
  if (want != wt && want != EP_KW_Q8) /* requested storage type: round like a converted checkpoint would */
    for (int i = 0; i < n; i++)
      v[i] = want == EP_KW_F16 ? ep_f16_to_f32(ep_f32_to_f16(v[i])) : ep_bf16_to_f32(ep_f32_to_bf16(v[i]));
  *dst = v;
  return EP_OK;
}
