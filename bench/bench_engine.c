/* Engine side of the performance benchmark (issue 9): loads a repository with
 * ep_model_load and measures prefill tokens/s (one forward of N prompt tokens),
 * greedy decode tokens/s (M steps) and batch decode throughput for B concurrent
 * sequences; optionally the memcpy bandwidth of the machine. Prints one JSON
 * line per measurement. Prompt ids follow the same formula as bench_llamacpp.mjs
 * so both engines see the same tokens. Not a test: built by the `bench` target. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kern/kern.h"
#include "rt/model.h"

typedef struct {
  const char *dir, *label;
  int threads, prompt, decode, batch, reps;
  ep_dtype dtype;
  const char *dtype_name;
  int memcpy_mb;
} bench_opts;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void prompt_ids(int32_t *ids, int n, int vocab, int shift) {
  for (int i = 0; i < n; i++) ids[i] = 3 + (int32_t)((((int64_t)i * 7919 + 13) % (vocab - 4) + shift) % (vocab - 4));
}

/* First maximum, the value kept in a register as in the runtime's greedy
 * sampler (rt/sampler.c): reloading x[best] every element cost ~150 us per
 * 32000-entry step here, ~2% of a 2-thread f16 decode step, that a server
 * does not pay. */
static int32_t argmax(const float *x, int n) {
  int32_t best = 0;
  float bv = x[0];
  for (int i = 1; i < n; i++)
    if (x[i] > bv) bv = x[best = i];
  return best;
}

/* Weights one decode step reads (every matrix once, lm_head included); norms and biases left out. */
static double weight_params(const ep_model_info *in) {
  double d = in->n_embd, q = (double)in->n_head * in->head_dim, kv = (double)in->n_kv_head * in->head_dim;
  int gated = strcmp(in->arch, "gpt2") != 0;
  double per_layer = d * q + 2 * d * kv + q * d + (gated ? 3 : 2) * d * in->n_ff;
  return per_layer * in->n_layer + (double)in->vocab_size * d;
}

/* Bytes of those weights in the storage format of dt. */
static double weight_bytes(const ep_model_info *in, ep_dtype dt) {
  double params = weight_params(in);
  /* INT8 = Q8 blocks of 32 int8 + one f32 scale (36/32 bytes); llama.cpp's Q8_0 uses an f16 scale (34/32) */
  return params * (dt == EP_DTYPE_F32 ? 4 : dt == EP_DTYPE_INT8 ? 36.0 / 32 : 2);
}

static int run_single(ep_model *m, const bench_opts *o, float *logits) {
  const ep_model_info *in = ep_model_get_info(m);
  int32_t *ids = malloc(sizeof *ids * (size_t)o->prompt);
  ep_kv *kv = ep_kv_new(m, (size_t)(o->prompt + o->decode + 1));
  if (!ids || !kv) {
    fprintf(stderr, "bench_engine: out of memory\n");
    free(ids);
    ep_kv_free(kv);
    return 1;
  }
  prompt_ids(ids, o->prompt, in->vocab_size, 0);
  int rc = 0;
  for (int r = 0; r < o->reps && rc == 0; r++) {
    ep_kv_truncate(kv, 0);
    ep_batch_item it = {kv, ids, (size_t)o->prompt, logits, NULL};
    double t0 = now_s();
    rc = ep_model_forward(m, &it, 1);
    double tpre = now_s() - t0;
    int32_t tok = argmax(logits, in->vocab_size), first[8];
    int nfirst = 0, steps = 0;
    first[nfirst++] = tok;
    t0 = now_s();
    for (int s = 1; s < o->decode && rc == 0; s++) {
      ep_batch_item d = {kv, &tok, 1, logits, NULL};
      rc = ep_model_forward(m, &d, 1);
      tok = argmax(logits, in->vocab_size);
      if (nfirst < 8) first[nfirst++] = tok;
      steps++;
    }
    double tdec = now_s() - t0;
    if (rc != 0) {
      fprintf(stderr, "bench_engine: forward failed (%d)\n", rc);
      break;
    }
    printf("{\"engine\":\"endpointd\",\"label\":\"%s\",\"dtype\":\"%s\",\"threads\":%d,"
           "\"prefill_tokens\":%d,\"prefill_s\":%.6f,\"prefill_tps\":%.3f,\"decode_steps\":%d,"
           "\"decode_s\":%.6f,\"decode_tps\":%.3f,\"weight_params\":%.0f,\"weight_bytes\":%.0f,\"first_ids\":[",
           o->label, o->dtype_name, o->threads, o->prompt, tpre, o->prompt / tpre, steps, tdec,
           steps / tdec, weight_params(in), weight_bytes(in, o->dtype));
    for (int i = 0; i < nfirst; i++) printf("%s%d", i ? "," : "", first[i]);
    printf("]}\n");
    fflush(stdout);
  }
  ep_kv_free(kv);
  free(ids);
  return rc != 0;
}

static int run_batch(ep_model *m, const bench_opts *o, float *logits_all) {
  const ep_model_info *in = ep_model_get_info(m);
  const int B = o->batch, P = 16;
  ep_kv **kvs = calloc((size_t)B, sizeof *kvs);
  int32_t *ids = malloc(sizeof *ids * (size_t)(B * P)), *toks = malloc(sizeof *toks * (size_t)B);
  ep_batch_item *items = calloc((size_t)B, sizeof *items);
  int rc = (!kvs || !ids || !toks || !items) ? 1 : 0;
  for (int b = 0; b < B && rc == 0; b++) {
    kvs[b] = ep_kv_new(m, (size_t)(P + o->decode + 1));
    if (!kvs[b]) rc = 1;
    prompt_ids(ids + b * P, P, in->vocab_size, b);
  }
  for (int r = 0; r < o->reps && rc == 0; r++) {
    double t0 = now_s();
    for (int b = 0; b < B; b++) {
      ep_kv_truncate(kvs[b], 0);
      items[b] = (ep_batch_item){kvs[b], ids + b * P, (size_t)P, logits_all + (size_t)b * (size_t)in->vocab_size, NULL};
    }
    rc = ep_model_forward(m, items, (size_t)B);
    double t1 = now_s();
    int steps = 0;
    for (int s = 1; s < o->decode && rc == 0; s++) {
      for (int b = 0; b < B; b++) {
        toks[b] = argmax(items[b].logits, in->vocab_size);
        items[b].tokens = &toks[b];
        items[b].n = 1;
      }
      rc = ep_model_forward(m, items, (size_t)B);
      steps += B;
    }
    double t2 = now_s();
    if (rc != 0) break;
    printf("{\"engine\":\"endpointd\",\"label\":\"%s\",\"dtype\":\"%s\",\"threads\":%d,\"batch\":%d,"
           "\"decode_steps\":%d,\"total_s\":%.6f,\"batch_decode_tps\":%.3f}\n",
           o->label, o->dtype_name, o->threads, B, o->decode, t2 - t0, steps / (t2 - t1));
    fflush(stdout);
  }
  if (rc) fprintf(stderr, "bench_engine: batch run failed (%d)\n", rc);
  for (int b = 0; kvs && b < B; b++) ep_kv_free(kvs[b]);
  free(kvs);
  free(ids);
  free(toks);
  free(items);
  return rc != 0;
}

/* Copy bandwidth (read + write bytes per second) of a buffer far above the L3. */
static int run_memcpy(int mb) {
  size_t n = (size_t)mb << 20;
  char *a = malloc(n), *b = malloc(n);
  if (!a || !b) {
    free(a);
    free(b);
    fprintf(stderr, "bench_engine: out of memory for memcpy test\n");
    return 1;
  }
  memset(a, 1, n);
  memset(b, 2, n);
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    double t0 = now_s();
    memcpy(r & 1 ? a : b, r & 1 ? b : a, n);
    double t = now_s() - t0;
    if (t < best) best = t;
  }
  printf("{\"memcpy_mb\":%d,\"copy_gbps\":%.3f,\"read_gbps_equiv\":%.3f}\n", mb, 2.0 * (double)n / best / 1e9,
         (double)n / best / 1e9);
  free(a);
  free(b);
  return 0;
}

static int parse_int(const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 0 || v > 1000000) return -1;
  *out = (int)v;
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: bench_engine --model DIR [--threads N] [--dtype f32|f16|bf16|int8] [--prompt N]\n"
          "                    [--decode M] [--batch B] [--reps R] [--label L]\n"
          "       bench_engine --memcpy MB\n");
  return 2;
}

int main(int argc, char **argv) {
  bench_opts o = {NULL, "", 1, 128, 64, 1, 1, EP_DTYPE_F32, "f32", 0};
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int *num = !strcmp(k, "--threads") ? &o.threads : !strcmp(k, "--prompt") ? &o.prompt
               : !strcmp(k, "--decode") ? &o.decode : !strcmp(k, "--batch") ? &o.batch
               : !strcmp(k, "--reps") ? &o.reps : !strcmp(k, "--memcpy") ? &o.memcpy_mb : NULL;
    if (!v) return usage();
    if (num) {
      if (parse_int(v, num) != 0) return usage();
    } else if (!strcmp(k, "--model")) {
      o.dir = v;
    } else if (!strcmp(k, "--label")) {
      o.label = v;
    } else if (!strcmp(k, "--dtype")) {
      o.dtype_name = v;
      if (!strcmp(v, "f32")) o.dtype = EP_DTYPE_F32;
      else if (!strcmp(v, "f16")) o.dtype = EP_DTYPE_F16;
      else if (!strcmp(v, "bf16")) o.dtype = EP_DTYPE_BF16;
      else if (!strcmp(v, "int8")) o.dtype = EP_DTYPE_INT8;
      else return usage();
    } else {
      return usage();
    }
    i++;
  }
  if (o.memcpy_mb > 0) return run_memcpy(o.memcpy_mb);
  if (!o.dir || o.prompt < 1 || o.decode < 1 || o.batch < 1 || o.threads < 1) return usage();

  ep_model_params p = ep_model_default_params();
  p.dir = o.dir;
  p.threads = o.threads;
  p.dtype = o.dtype;
  ep_model *m = NULL;
  char err[256] = "";
  double t0 = now_s();
  int rc = ep_model_load(&p, &m, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "bench_engine: %s: %s\n", o.dir, err);
    return 1;
  }
  const ep_model_info *in = ep_model_get_info(m);
  ep_kern *probe = ep_kern_new(1, EP_KERN_AUTO); /* the ISA the model's context picked (same rule, env EP_KERN) */
  fprintf(stderr, "bench_engine: loaded %s (%s, %d layers, d=%d) in %.2fs, kernels %s\n", o.dir, in->arch,
          in->n_layer, in->n_embd, now_s() - t0, probe ? ep_kern_isa(probe) : "?");
  ep_kern_free(probe);
  if (o.prompt + o.decode + 1 > in->n_ctx) {
    fprintf(stderr, "bench_engine: prompt + decode exceeds n_ctx %d\n", in->n_ctx);
    ep_model_free(m);
    return 1;
  }
  float *logits = malloc(sizeof(float) * (size_t)in->vocab_size * (size_t)o.batch);
  if (!logits) {
    ep_model_free(m);
    return 1;
  }
  rc = o.batch > 1 ? run_batch(m, &o, logits) : run_single(m, &o, logits);
  free(logits);
  ep_model_free(m);
  return rc;
}
