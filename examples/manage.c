/* Example: the management lifecycle of one endpoint with libendpoint, the C
 * counterpart of huggingface_hub's create_inference_endpoint(...).wait(),
 * endpoint.client.text_generation(...), endpoint.pause()/.resume()/.delete().
 * usage: example_manage NAME REPOSITORY [PROMPT] [MAX_NEW_TOKENS]
 * (server from ENDPOINTD_URL / HF_ENDPOINT, token from ENDPOINTD_TOKEN / HF_TOKEN) */
#include <endpointd/client.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints the failed step with the server's status and message; returns 1. */
static int fail(ep_client *c, const char *step, int err) {
  fprintf(stderr, "%s: %s (HTTP %d): %s\n", step, ep_client_strerror(err), ep_client_http_status(c),
          ep_client_message(c));
  return 1;
}

static int on_token(void *ud, const char *text, int special) {
  int *n = ud;
  if (!special) {
    fputs(text, stdout);
    fflush(stdout);
    (*n)++;
  }
  return 0;
}

/* create -> wait -> generate (streamed) -> pause -> resume -> wait -> delete */
static int lifecycle(ep_client *c, const char *name, const char *repo, const char *prompt,
                     int max_new) {
  ep_endpoint_create_params cp = ep_endpoint_create_default_params();
  cp.name = name;
  cp.repository = repo;
  cp.task = "text-generation";
  cp.min_replica = 1;
  cp.max_replica = 1;
  ep_endpoint *e = NULL;
  int err = ep_endpoint_create(c, &cp, &e);
  if (err) return fail(c, "create", err);
  printf("created %s/%s: %s\n", e->ns, e->name, e->status);
  int rc = 0;
  if ((err = ep_endpoint_wait(c, e, 120, 0.5))) {
    rc = fail(c, "wait", err);
    goto out;
  }
  printf("running at %s\n", e->url);

  ep_gen_params gp = ep_gen_default_params();
  gp.max_new_tokens = max_new;
  gp.do_sample = 0; /* greedy: the same text every run */
  int tokens = 0;
  printf("generated: ");
  err = ep_text_generation_stream(c, e->url, prompt, &gp, on_token, &tokens, NULL);
  printf("\n");
  if (err) {
    rc = fail(c, "generate", err);
    goto out;
  }
  printf("streamed %d tokens\n", tokens);

  ep_endpoint *p = NULL;
  if ((err = ep_endpoint_pause(c, e->ns, e->name, &p))) {
    rc = fail(c, "pause", err);
    goto out;
  }
  printf("paused: %s\n", p->status);
  ep_endpoint_free(p);
  if ((err = ep_endpoint_resume(c, e->ns, e->name, 1, NULL))) {
    rc = fail(c, "resume", err);
    goto out;
  }
  if ((err = ep_endpoint_wait(c, e, 120, 0.5))) {
    rc = fail(c, "wait after resume", err);
    goto out;
  }
  printf("resumed: %s\n", e->status);
out:
  err = ep_endpoint_delete(c, e->ns, e->name);
  if (err)
    rc = fail(c, "delete", err);
  else
    printf("deleted %s/%s\n", e->ns, e->name);
  ep_endpoint_free(e);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s NAME REPOSITORY [PROMPT] [MAX_NEW_TOKENS]\n", argv[0]);
    return 2;
  }
  const char *prompt = argc > 3 ? argv[3] : "Once upon a time";
  int max_new = argc > 4 ? atoi(argv[4]) : 16;
  if (max_new <= 0) max_new = 16;
  ep_client *c;
  int err = ep_client_init(&c, NULL);
  if (err) {
    fprintf(stderr, "client: %s\n", ep_client_strerror(err));
    return 1;
  }
  int rc = lifecycle(c, argv[1], argv[2], prompt, max_new);
  ep_client_free(c);
  return rc;
}
