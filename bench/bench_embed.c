/* Engine side of the embeddings benchmark (bench/bench_embed.sh): loads an encoder
 * repository with ep_encoder_load and measures sentences/s of ep_encoder_embed
 * (mean pooling, no normalisation) for a batch of B sequences of S tokens. The token
 * ids follow the same formula as bench_embed_peer.py so both engines see the same
 * input. Prints one JSON line per batch size, with the first 8 values of sentence 0
 * so the driver can check both engines compute the same thing. `--gemm` instead times the
 * encoder's Linear shapes on the packed GEMM (ep_kern_gemm) vs the OpenBLAS path
 * (ep_kern_matmul), alternating, best of 3. Not a test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "kern/kern.h"
#include "rt/encoder.h"

/* [CLS] w... [SEP], ids in [1000, vocab) varying with the sequence index j. */
static void seq_ids(int32_t *ids, int n, int vocab, int j) {
  ids[0] = 101;
  for (int i = 1; i < n - 1; i++)
    ids[i] = 1000 + (int32_t)(((int64_t)i * 7919 + (int64_t)j * 104729 + 13) % (vocab - 1000));
  ids[n - 1] = 102;
}

static int run(ep_encoder *e, int threads, int batch, int seq, double min_s) {
  const ep_encoder_info *in = ep_encoder_get_info(e);
  int32_t *ids = malloc((size_t)batch * (size_t)seq * sizeof *ids);
  ep_enc_seq *seqs = calloc((size_t)batch, sizeof *seqs);
  float *out = malloc((size_t)batch * (size_t)in->dim * sizeof *out);
  if (!ids || !seqs || !out) {
    free(ids), free(seqs), free(out);
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (int j = 0; j < batch; j++) {
    seq_ids(ids + (size_t)j * seq, seq, in->vocab_size, j);
    seqs[j].ids = ids + (size_t)j * seq;
    seqs[j].n = (size_t)seq;
  }
  int rc = ep_encoder_embed(e, seqs, (size_t)batch, EP_POOL_MEAN, 0, out); /* warm-up */
  int reps = 0;
  uint64_t t0 = ep_mono_ns(), t1 = t0;
  while (!rc && (reps < 1 || (double)(t1 - t0) * 1e-9 < min_s)) {
    rc = ep_encoder_embed(e, seqs, (size_t)batch, EP_POOL_MEAN, 0, out);
    reps++;
    t1 = ep_mono_ns();
  }
  if (rc) {
    fprintf(stderr, "ep_encoder_embed failed: %d\n", rc);
  } else {
    double s = (double)(t1 - t0) * 1e-9;
    printf(
        "{\"engine\":\"endpointd\",\"threads\":%d,\"batch\":%d,\"seq\":%d,\"reps\":%d,"
        "\"ms_per_batch\":%.2f,\"sentences_per_s\":%.2f,\"first\":[",
        threads, batch, seq, reps, s * 1e3 / reps, (double)batch * reps / s);
    for (int i = 0; i < 8 && i < in->dim; i++) printf("%s%.6f", i ? "," : "", out[i]);
    printf("]}\n");
    fflush(stdout);
  }
  free(ids), free(seqs), free(out);
  return rc ? 1 : 0;
}

/* seconds per call of one path, min over 3 alternating rounds of >= min_s/6 s each */
static double gemm_time(ep_kern *k, int packed, float *y, const float *x, const float *w,
                        const ep_kern_packed *pw, const float *b, int m, int kd, int nd, double min_s) {
  int reps = 0;
  uint64_t t0 = ep_mono_ns(), t1 = t0;
  while (reps < 2 || (double)(t1 - t0) * 1e-9 < min_s / 6) {
    if (packed) {
      ep_gemm_out o = {y, pw, b, EP_GEMM_ACT_NONE};
      ep_kern_gemm(k, x, m, &o, 1);
    } else {
      ep_kern_matmul(k, y, x, w, EP_KW_F32, b, m, kd, nd);
    }
    reps++;
    t1 = ep_mono_ns();
  }
  return (double)(t1 - t0) * 1e-9 / reps;
}

static int run_gemm(int threads, double min_s) {
  static const int shapes[3][2] = {{768, 768}, {768, 3072}, {3072, 768}}; /* K, N */
  static const int rows[2] = {128, 4096};
  ep_kern *k = ep_kern_new(threads, EP_KERN_AUTO);
  if (!k) return 1;
  for (int ri = 0; ri < 2; ri++) {
    for (int si = 0; si < 3; si++) {
      int m = rows[ri], kd = shapes[si][0], nd = shapes[si][1];
      float *x = malloc((size_t)m * kd * 4), *w = malloc((size_t)nd * kd * 4), *b = malloc((size_t)nd * 4);
      float *y0 = malloc((size_t)m * nd * 4), *y1 = malloc((size_t)m * nd * 4);
      unsigned s = 1;
      for (size_t i = 0; i < (size_t)m * kd; i++) x[i] = (float)((s = s * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
      for (size_t i = 0; i < (size_t)nd * kd; i++) w[i] = (float)((s = s * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
      for (int i = 0; i < nd; i++) b[i] = 0.01f * (float)(i % 7);
      ep_kern_packed *pw = ep_kern_pack(k, w, EP_KW_F32, nd, kd);
      if (!pw) {
        fprintf(stderr, "ep_kern_pack failed (no AVX2/FMA?)\n");
        return 1;
      }
      double tb = 1e9, tp = 1e9;
      for (int r = 0; r < 3; r++) {
        double a = gemm_time(k, 0, y0, x, w, NULL, b, m, kd, nd, min_s);
        double c = gemm_time(k, 1, y1, x, w, pw, b, m, kd, nd, min_s);
        tb = a < tb ? a : tb;
        tp = c < tp ? c : tp;
      }
      double diff = 0;
      for (size_t i = 0; i < (size_t)m * nd; i++) {
        double d = y0[i] > y1[i] ? y0[i] - y1[i] : y1[i] - y0[i];
        diff = d > diff ? d : diff;
      }
      double gf = 2.0 * m * kd * nd * 1e-9;
      printf("{\"bench\":\"gemm\",\"threads\":%d,\"M\":%d,\"K\":%d,\"N\":%d,\"openblas_gflops\":%.1f,"
             "\"packed_gflops\":%.1f,\"packed_over_openblas\":%.3f,\"max_diff\":%.2g}\n",
             threads, m, kd, nd, gf / tb, gf / tp, tb / tp, diff);
      fflush(stdout);
      ep_kern_packed_free(pw);
      free(x), free(w), free(b), free(y0), free(y1);
    }
  }
  ep_kern_free(k);
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  int threads = 2, seq = 128;
  double min_s = 5.0;
  int batches[8], nb = 0;
  int gemm = 0;
  if (argc > 1 && !strcmp(argv[1], "--gemm")) gemm = 1, argv++, argc--; /* first option only */
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--model"))
      dir = argv[i + 1];
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seq"))
      seq = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--min-seconds"))
      min_s = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch") && nb < 8)
      batches[nb++] = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (gemm && threads >= 1) return run_gemm(threads, min_s);
  if (!dir || seq < 2 || threads < 1) {
    fprintf(stderr,
            "usage: bench_embed --model DIR [--threads N] [--seq S] [--batch B]... [--min-seconds "
            "X]\n       bench_embed --gemm [--threads N] [--min-seconds X]\n");
    return 2;
  }
  if (!nb) batches[nb++] = 1, batches[nb++] = 32;
  ep_encoder_params p = ep_encoder_default_params();
  p.dir = dir;
  p.threads = threads;
  ep_encoder *e = NULL;
  char err[256];
  if (ep_encoder_load(&p, &e, err, sizeof err)) {
    fprintf(stderr, "cannot load %s: %s\n", dir, err);
    return 1;
  }
  if (seq > ep_encoder_get_info(e)->max_tokens) {
    fprintf(stderr, "--seq %d > model max %d\n", seq, ep_encoder_get_info(e)->max_tokens);
    ep_encoder_free(e);
    return 2;
  }
  int rc = 0;
  for (int i = 0; i < nb && !rc; i++) rc = run(e, threads, batches[i], seq, min_s);
  ep_encoder_free(e);
  return rc;
}
