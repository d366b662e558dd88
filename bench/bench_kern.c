/* Kernel-level decode benchmark for the engine (not a ctest): loads a model
 * folder, prefills a short prompt per sequence, then times greedy-free decode
 * steps (fixed token ids) for batch sizes B and reports aggregate tokens/s.
 * usage: bench_kern DIR [threads=2] [dtype=f32|f16|bf16|int8] [steps=32] [B list, e.g. 1,2,4,8]
 * Env EP_KERN=ref selects the scalar reference kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/err.h"
#include "rt/model.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR [threads] [f32|f16|bf16|int8] [steps] [B,B,...]\n", argv[0]);
    return 2;
  }
  ep_model_params p = ep_model_default_params();
  p.dir = argv[1];
  p.threads = argc > 2 ? atoi(argv[2]) : 2;
  const char *dt = argc > 3 ? argv[3] : "f32";
  p.dtype = strcmp(dt, "f16") == 0    ? EP_DTYPE_F16
            : strcmp(dt, "bf16") == 0 ? EP_DTYPE_BF16
            : strcmp(dt, "int8") == 0 ? EP_DTYPE_INT8
                                      : EP_DTYPE_F32;
  int steps = argc > 4 ? atoi(argv[4]) : 32;
  const char *bl = argc > 5 ? argv[5] : "1";
  ep_model *m = NULL;
  char err[512] = "";
  double t0 = now_s();
  int rc = ep_model_load(&p, &m, err, sizeof err);
  if (rc != EP_OK) {
    fprintf(stderr, "load: %s (%s)\n", err, ep_strerror(rc));
    return 1;
  }
  const ep_model_info *in = ep_model_get_info(m);
  printf("model %s layers=%d d=%d vocab=%d threads=%d dtype=%s kern=%s load=%.2fs\n", in->arch,
         in->n_layer, in->n_embd, in->vocab_size, p.threads, dt,
         getenv("EP_KERN") ? getenv("EP_KERN") : "auto", now_s() - t0);
  char *bcopy = strdup(bl);
  for (char *tok = strtok(bcopy, ","); tok; tok = strtok(NULL, ",")) {
    int B = atoi(tok);
    if (B < 1 || B > 64) continue;
    ep_kv *kv[64];
    ep_batch_item items[64];
    float *logits = malloc(sizeof(float) * (size_t)in->vocab_size * (size_t)B);
    int32_t prompt[8] = {1, 5, 9, 13, 17, 21, 25, 29}, ids[64];
    size_t cap = (size_t)steps + 16 < (size_t)in->n_ctx ? (size_t)steps + 16 : (size_t)in->n_ctx;
    for (int b = 0; b < B; b++) {
      kv[b] = ep_kv_new(m, cap);
      if (!kv[b]) {
        fprintf(stderr, "kv alloc failed\n");
        return 1;
      }
      items[b] = (ep_batch_item){kv[b], prompt, 8, logits + (size_t)b * in->vocab_size, NULL};
    }
    if (ep_model_forward(m, items, (size_t)B) != EP_OK) return 1;
    int n = (int)(cap - 8 < (size_t)steps ? cap - 8 : (size_t)steps);
    double t1 = now_s(), c1 = cpu_s();
    for (int s = 0; s < n; s++) {
      for (int b = 0; b < B; b++) {
        ids[b] = (int32_t)((s * 7 + b * 3 + 11) % in->vocab_size);
        items[b].tokens = &ids[b];
        items[b].n = 1;
      }
      if (ep_model_forward(m, items, (size_t)B) != EP_OK) return 1;
    }
    double dt_s = now_s() - t1, dc = cpu_s() - c1;
    printf("B=%d decode steps=%d  %.2f ms/step  %.1f tok/s aggregate  (cpu %.2f ms/step)\n", B, n,
           dt_s * 1e3 / n, (double)n * B / dt_s, dc * 1e3 / n);
    for (int b = 0; b < B; b++) ep_kv_free(kv[b]);
    free(logits);
  }
  free(bcopy);
  ep_model_free(m);
  return 0;
}
