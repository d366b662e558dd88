/* Example: send a batch of prompts concurrently to one endpoint with
 * libendpoint's curl-multi API, the C counterpart of
 *   await asyncio.gather(*[client.text_generation(p) for p in prompts]).
 * usage: example_batch URL [N] [MAX_NEW_TOKENS]   (token from ENDPOINTD_TOKEN / HF_TOKEN) */
#define _POSIX_C_SOURCE 200809L /* strdup, clock_gettime */
#include <endpointd/client.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int index;
  int err;
  char *text;
} result;

static void on_done(void *ud, int err, int status, const char *text) {
  result *r = ud;
  r->err = err;
  r->text = text ? strdup(text) : NULL;
  if (err) fprintf(stderr, "request %d: HTTP %d: %s\n", r->index, status, text ? text : "");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [N] [MAX_NEW_TOKENS]\n", argv[0]);
    return 2;
  }
  int n = argc > 2 ? atoi(argv[2]) : 8, max_new = argc > 3 ? atoi(argv[3]) : 16;
  if (n <= 0 || n > 1024) n = 8;
  ep_client *c;
  int err = ep_client_init(&c, NULL);
  if (err) {
    fprintf(stderr, "client: %s\n", ep_client_strerror(err));
    return 1;
  }
  ep_multi *m;
  if ((err = ep_multi_init(c, &m))) {
    fprintf(stderr, "multi: %s\n", ep_client_strerror(err));
    ep_client_free(c);
    return 1;
  }
  result *res = calloc((size_t)n, sizeof *res);
  char prompt[64];
  ep_gen_params p = ep_gen_default_params();
  p.max_new_tokens = max_new;
  for (int i = 0; i < n && res; i++) {
    res[i].index = i;
    snprintf(prompt, sizeof prompt, "Once upon a time, story %d:", i);
    if ((err = ep_multi_text_generation(m, argv[1], prompt, &p, on_done, &res[i]))) break;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (!err) err = ep_multi_run(m); /* all n requests in flight at once */
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int failed = 0;
  for (int i = 0; res && i < n; i++) {
    if (res[i].err) failed++;
    else printf("%d: %s\n", i, res[i].text ? res[i].text : "");
    free(res[i].text);
  }
  fprintf(stderr, "%d requests, %d failed, %.3f s\n", n, failed,
          (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  free(res);
  ep_multi_free(m);
  ep_client_free(c);
  return err || failed ? 1 : 0;
}
