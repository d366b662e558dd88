/* endpointd generate|chat|embed|classify: data-plane commands. The target is
 * an endpoint NAME (its URL is read from the management API) or --url BASE
 * (any TGI/TEI-compatible server, e.g. `endpointd runtime` on its port). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"

static int usage_infer(void) {
  fprintf(stderr,
          "usage:\n"
          "  endpointd generate [NAME] PROMPT [--url BASE] [--max-new-tokens N] [--temperature T]\n"
          "           [--top-k K] [--top-p P] [--seed S] [--stop S]... [--stream] [--full-text]\n"
          "  endpointd chat [NAME] MESSAGE [--system TEXT] [--url BASE] [--stream] [generate options]\n"
          "  endpointd embed [NAME] TEXT... [--url BASE]\n"
          "  endpointd classify [NAME] TEXT [--url BASE]\n"
          "PROMPT/MESSAGE '-' reads standard input. Without --url, NAME is looked up with\n"
          "--server/ENDPOINTD_URL and -n NAMESPACE; its state must have a URL.\n");
  return 2;
}

static int print_token(void *ud, const char *text, int special) {
  (void)ud;
  if (!special) {
    fputs(text, stdout);
    fflush(stdout);
  }
  return 0;
}

static char *read_stdin(void) {
  size_t cap = 4096, n = 0;
  char *s = malloc(cap);
  size_t r;
  while (s && (r = fread(s + n, 1, cap - n - 1, stdin)) > 0) {
    n += r;
    if (cap - n < 2) {
      char *t = realloc(s, cap *= 2);
      if (!t) free(s);
      s = t;
    }
  }
  if (s) s[n] = 0;
  return s;
}

int cmd_infer(int argc, char **argv) {
  const char *cmd = argv[0];
  cli_args a;
  cli_opts o = {0};
  cli_init(&a, argc, argv);
  ep_gen_params gp = ep_gen_default_params();
  cli_list stop = {0}, pos = {0};
  const char *system = NULL;
  int stream = 0;
  double num;
  while (cli_next(&a)) {
    const char *v;
    if (cli_common(&a, &o)) continue;
    if (cli_int(&a, "--max-new-tokens", &gp.max_new_tokens) || cli_int(&a, "--max-tokens", &gp.max_new_tokens) ||
        cli_int(&a, "--top-k", &gp.top_k) || cli_val(&a, "--system", NULL, &system))
      continue;
    if (cli_num(&a, "--temperature", &gp.temperature) || cli_num(&a, "--top-p", &gp.top_p) ||
        cli_num(&a, "--repetition-penalty", &gp.repetition_penalty))
      continue;
    if (cli_num(&a, "--seed", &num)) {
      gp.seed = (long long)num;
      continue;
    }
    if (cli_val(&a, "--stop", NULL, &v)) {
      if (v) cli_list_add(&stop, v);
      continue;
    }
    if (cli_flag(&a, "--stream")) stream = 1;
    else if (cli_flag(&a, "--full-text")) gp.return_full_text = 1;
    else if (cli_flag(&a, "--sample")) gp.do_sample = 1;
    else if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) return usage_infer(), 0;
    else if (cli_is_positional(&a)) cli_list_add(&pos, a.arg);
    else {
      cli_list_free(&stop);
      cli_list_free(&pos);
      return cli_unknown(&a);
    }
  }
  gp.stop = stop.v;
  int rc = a.bad ? 2 : 0;
  int multi_text = !strcmp(cmd, "embed");
  /* Without --url the first positional is the endpoint name. */
  int first_text = o.url ? 0 : 1;
  int ntext = pos.n - first_text;
  if (!rc && (ntext < 1 || (!multi_text && ntext != 1))) {
    fprintf(stderr, "endpointd %s: expected %s%s\n", cmd, o.url ? "" : "NAME ",
            multi_text ? "TEXT..." : "one TEXT argument (quote it)");
    rc = 2;
  }
  ep_client *c = NULL;
  if (!rc) rc = cli_client(&o, &c);
  char *url_owned = NULL, *stdin_text = NULL, *out = NULL;
  const char *url = o.url;
  int err = 0;
  if (!rc && !url) {
    ep_endpoint *e = NULL;
    if ((err = ep_endpoint_get(c, o.ns, pos.v[0], &e))) rc = cli_fail(c, err, cmd);
    else if (!e->url) {
      fprintf(stderr, "endpointd %s: endpoint %s is not deployed (state %s); run 'endpointd wait %s'\n",
              cmd, e->name, e->status ? e->status : "unknown", e->name);
      rc = 1;
    } else {
      url = url_owned = strdup(e->url);
    }
    ep_endpoint_free(e);
  }
  const char *text = rc ? NULL : pos.v[first_text];
  if (!rc && !strcmp(text, "-")) text = stdin_text = read_stdin();
  if (rc) {
  } else if (!strcmp(cmd, "generate")) {
    err = stream ? ep_text_generation_stream(c, url, text, &gp, print_token, NULL, NULL)
                 : ep_text_generation(c, url, text, &gp, &out);
    if (err) rc = cli_fail(c, err, cmd);
    else if (stream) {
    } else if (o.json && out) {
      json_t *j = json_pack("{s:s}", "generated_text", out);
      char *s = json_dumps(j, 0);
      printf("%s\n", s ? s : "");
      free(s);
      json_decref(j);
    } else printf("%s\n", out ? out : "");
  } else if (!strcmp(cmd, "chat")) {
    ep_chat_message msgs[2];
    size_t n = 0;
    if (system) msgs[n++] = (ep_chat_message){"system", system};
    msgs[n++] = (ep_chat_message){"user", text};
    err = stream ? ep_chat_completion_stream(c, url, msgs, n, &gp, print_token, NULL, NULL)
                 : ep_chat_completion(c, url, msgs, n, &gp, &out);
    if (err) rc = cli_fail(c, err, cmd);
    else if (!stream) printf("%s\n", out ? out : "");
  } else if (!strcmp(cmd, "embed")) {
    float *v = NULL;
    size_t rows = 0, dim = 0;
    if ((err = ep_feature_extraction(c, url, pos.v + first_text, (size_t)ntext, &v, &rows, &dim))) {
      rc = cli_fail(c, err, cmd);
    } else {
      printf("[");
      for (size_t r = 0; r < rows; r++) {
        printf("%s[", r ? ",\n " : "");
        for (size_t k = 0; k < dim; k++) printf("%s%.8g", k ? "," : "", v[r * dim + k]);
        printf("]");
      }
      printf("]\n");
    }
    free(v);
  } else if (!strcmp(cmd, "classify")) {
    ep_label_score *l = NULL;
    size_t n = 0;
    if ((err = ep_text_classification(c, url, text, &l, &n))) rc = cli_fail(c, err, cmd);
    for (size_t i = 0; i < n; i++) printf("%-24s %.6f\n", l[i].label, l[i].score);
    ep_label_scores_free(l, n);
  } else {
    rc = usage_infer();
  }
  if (!rc && stream) printf("\n");
  free(out);
  free(url_owned);
  free(stdin_text);
  ep_client_free(c);
  cli_list_free(&stop);
  cli_list_free(&pos);
  return rc;
}
