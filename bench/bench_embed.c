/* Engine side of the embeddings benchmark (bench/bench_embed.sh): loads an encoder
 * repository with ep_encoder_load and measures sentences/s of ep_encoder_embed
 * (mean pooling, no normalisation) for a batch of B sequences of S tokens. The token
 * ids follow the same formula as bench_embed_peer.py so both engines see the same
 * input. Prints one JSON line per batch size, with the first 8 values of sentence 0
 * so the driver can check both engines compute the same thing. Not a test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
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

int main(int argc, char **argv) {
  const char *dir = NULL;
  int threads = 2, seq = 128;
  double min_s = 5.0;
  int batches[8], nb = 0;
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
  if (!dir || seq < 2 || threads < 1) {
    fprintf(stderr,
            "usage: bench_embed --model DIR [--threads N] [--seq S] [--batch B]... [--min-seconds "
            "X]\n");
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
