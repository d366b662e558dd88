/* `endpointd model pull|ls|rm`: the models on this machine (HF cache and the
 * model store under --home), without a running daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cmds.h"
#include "hub/hub.h"

static void on_progress(void *ctx, const char *line) {
  (void)ctx;
  fprintf(stderr, "%s\n", line);
}

static int usage(void) {
  fprintf(stderr,
          "usage: endpointd model pull REPO [--revision REV] [--task TASK]\n"
          "       endpointd model ls\n"
          "       endpointd model rm REPO\n"
          "options: --home DIR (model store <home>/models; default $ENDPOINTD_HOME or ./var)\n"
          "env: HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE\n");
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
