/* GEMV microbenchmark for src/kern (not a test): times ep_kern_matmul with
 * n = 1..4 input rows on GPT-2 124M shapes (768->2304, 768->3072, 3072->768,
 * 768->50257) per weight type, and a plain AVX2 read of the same bytes, and
 * prints GB/s of weights streamed. usage: bench_gemv [threads=1] [reps=20] [n=1]
 * Weights sit in 2 MiB-aligned MADV_HUGEPAGE memory like the engine's
 * converted/quantised copies (src/rt/model_weights.c); env BENCH_4K=1 leaves
 * them on 4 KiB pages. Env EP_KERN=ref forces the scalar kernels, EP_KERN=avx2 AVX2
 * on an AVX-512 CPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kern/kern.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 20;
  int n = argc > 3 ? atoi(argv[3]) : 1;
  static const int shp[][2] = {{768, 2304}, {768, 3072}, {3072, 768}, {768, 50257}};
  static const char *wn[] = {"f32", "f16", "bf16", "q8"};
  ep_kern *k = ep_kern_new(threads, EP_KERN_AUTO);
  if (!k) return 1;
  printf("isa %s threads %d n %d\n", ep_kern_isa(k), ep_kern_threads(k), n);
  for (int wt = 0; wt < EP_KW_COUNT; wt++) {
    /* 12 layers worth of each of the first three shapes (like one decode step) + lm_head */
    double tot_bytes = 0, tot_s = 0;
    for (int s = 0; s < 4; s++) {
      int in = shp[s][0], out = shp[s][1], copies = s < 3 ? 12 : 1;
      size_t rb = ep_kern_row_bytes((ep_kern_wtype)wt, in), mb = rb * (size_t)out;
      size_t wsz = (mb * copies + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
      unsigned char *w = aligned_alloc((size_t)2 << 20, wsz);
      if (w && !getenv("BENCH_4K")) (void)madvise(w, wsz, MADV_HUGEPAGE);
      float *x = malloc(sizeof(float) * (size_t)in * n), *y = malloc(sizeof(float) * (size_t)out * n);
      float *xf = malloc(sizeof(float) * (size_t)in);
      if (!w || !x || !y || !xf) return 1;
      srand(1);
      for (int c = 0; c < copies; c++)
        for (int o = 0; o < out; o++) {
          for (int i = 0; i < in; i++) xf[i] = (float)rand() / RAND_MAX - 0.5f;
          unsigned char *row = w + (size_t)c * mb + (size_t)o * rb;
          if (wt == EP_KW_F32) memcpy(row, xf, rb);
          else if (wt == EP_KW_Q8) ep_kern_quantize_q8(row, xf, in);
          else
            for (int i = 0; i < in; i++) {
              unsigned short h = wt == EP_KW_F16 ? ep_f32_to_f16(xf[i]) : ep_f32_to_bf16(xf[i]);
              memcpy(row + 2 * i, &h, 2);
            }
        }
      for (int i = 0; i < in * n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
      double best = 1e9;
      for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        for (int c = 0; c < copies; c++)
          ep_kern_matmul(k, y, x, w + (size_t)c * mb, (ep_kern_wtype)wt, NULL, n, in, out);
        double t = now_s() - t0;
        if (t < best) best = t;
      }
      printf("%-4s %5dx%-5d x%-2d %7.3f ms  %6.2f GB/s\n", wn[wt], out, in, copies, best * 1e3,
             (double)mb * copies / best / 1e9);
      tot_bytes += (double)mb * copies;
      tot_s += best;
      free(w), free(x), free(y), free(xf);
    }
    printf("%-4s step-equivalent %.2f ms %.2f GB/s\n", wn[wt], tot_s * 1e3, tot_bytes / tot_s / 1e9);
  }
  ep_kern_free(k);
  return 0;
}
