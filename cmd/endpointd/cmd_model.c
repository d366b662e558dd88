/* `endpointd model pull|ls|rm`: the models on this machine (HF cache and the
 * model store under --home), without a running daemon. With ENDPOINTD_URL
 * set and the daemon reachable, rm first asks it (GET /v2/model) and refuses
 * a model an endpoint uses. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <endpointd/client.h>
#include <jansson.h>

#include "base/err.h"
#include "cmds.h"
#include "hub/hub.h"

static void on_progress(void *ctx, const char *line) {
  (void)ctx;
  fprintf(stderr, "%s\n", line);
}

/* 1 (after printing why) when the daemon at $ENDPOINTD_URL says repo is in
 * use or cannot say; 0 when it is free or no daemon is reachable. */
static int in_use_by_daemon(const char *repo) {
  const char *url = getenv("ENDPOINTD_URL");
  if (!url || !*url) return 0;
  ep_client_params cp = ep_client_default_params();
  cp.connect_timeout_ms = 2000;
  cp.timeout_ms = 30000;
  ep_client *c = NULL;
  if (ep_client_init(&c, &cp)) return 0;
  char *body = NULL;
  int err = ep_client_request(c, "GET", "/v2/model", NULL, &body);
  int refuse = 0;
  if (err == EP_CLIENT_ECONN) {
    fprintf(stderr, "endpointd: daemon at %s not reachable; removing without asking it\n", url);
  } else if (err) {
    fprintf(stderr, "endpointd: cannot ask the daemon at %s whether '%s' is in use: %s\n", url,
            repo, ep_client_message(c));
    refuse = 1;
  } else {
    json_t *j = json_loads(body, 0, NULL);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "items"), i, m) {
      const char *r = json_string_value(json_object_get(m, "repository"));
      if (!r || strcmp(r, repo) || !json_is_true(json_object_get(m, "inUse"))) continue;
      fprintf(stderr, "endpointd: model '%s' is in use by endpoint(s):", repo);
      size_t k;
      json_t *u;
      json_array_foreach(json_object_get(m, "usedBy"), k, u) fprintf(stderr, " %s", json_string_value(u));
      if (!json_array_size(json_object_get(m, "usedBy"))) fprintf(stderr, " (not visible to this token)");
      fprintf(stderr, "; delete them first\n");
      refuse = 1;
      break;
    }
    json_decref(j);
  }
  free(body);
  ep_client_free(c);
  return refuse;
}

static int usage(void) {
  fprintf(stderr,
          "usage: endpointd model pull REPO [--revision REV] [--task TASK]\n"
          "       endpointd model ls\n"
          "       endpointd model rm REPO\n"
          "options: --home DIR (model store <home>/models; default $ENDPOINTD_HOME or ./var)\n"
          "env: HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE;\n"
          "     ENDPOINTD_URL (+ ENDPOINTD_TOKEN): rm asks this daemon and refuses a model in use\n");
  return 2;
}

int cmd_model(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *sub = argv[1];
  const char *home = getenv("ENDPOINTD_HOME") ? getenv("ENDPOINTD_HOME") : "./var";
  const char *revision = NULL, *task = NULL;
  static struct option opts[] = {{"home", required_argument, 0, 'H'},
                                 {"revision", required_argument, 0, 'r'},
                                 {"task", required_argument, 0, 't'},
                                 {"help", no_argument, 0, 'h'},
                                 {0, 0, 0, 0}};
  optind = 2;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'H') home = optarg;
    else if (c == 'r') revision = optarg;
    else if (c == 't') task = optarg;
    else return usage();
  }
  ep_hub_params p = ep_hub_default_params();
  p.home = home;
  p.task = task;
  p.progress = on_progress;
  char err[1024] = "", dir[4096];
  if (!strcmp(sub, "pull")) {
    if (optind >= argc) return usage();
    int rc = ep_hub_resolve(&p, argv[optind], revision, dir, sizeof dir, err, sizeof err);
    if (rc) {
      fprintf(stderr, "endpointd: %s\n", err);
      return 1;
    }
    printf("%s\n", dir);
    return 0;
  }
  if (!strcmp(sub, "ls")) {
    ep_hub_model *m;
    size_t n;
    if (ep_hub_list(&p, &m, &n) != EP_OK) return 1;
    printf("%-40s %-8s %-12s %s\n", "REPOSITORY", "SOURCE", "SIZE", "REVISION");
    for (size_t i = 0; i < n; i++)
      printf("%-40s %-8s %-12.1f %s\n", m[i].repo, m[i].source, m[i].bytes / 1048576.0,
             m[i].revision[0] ? m[i].revision : "-");
    free(m);
    return 0;
  }
  if (!strcmp(sub, "rm")) {
    if (optind >= argc) return usage();
    if (in_use_by_daemon(argv[optind])) return 1;
    int rc = ep_hub_remove(&p, argv[optind], err, sizeof err);
    if (rc) {
      fprintf(stderr, "endpointd: %s\n", err);
      return 1;
    }
    printf("removed %s\n", argv[optind]);
    return 0;
  }
  return usage();
}
