/* endpointd: one binary, subcommands dispatched by the first argument. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

#ifndef ENDPOINTD_VERSION
#define ENDPOINTD_VERSION "0.1.0"
#endif

static void usage(FILE *f) {
  fprintf(f,
          "endpointd %s - self-hosted Inference Endpoints\n\n"
          "usage: endpointd <command> [options]\n\n"
          "  serve      run the daemon (management API, gateway, supervisor)\n"
          "  runtime    run one model replica (TGI/TEI/OpenAI-compatible server)\n"
          "  create     create an endpoint          (NAME --repository REPO [--task T] ...)\n"
          "  ls         list endpoints              ([-n NAMESPACE|'*'])\n"
          "  get        show one endpoint\n"
          "  wait       wait until an endpoint is running and healthy\n"
          "  pause | resume | scale-to-zero | update | delete   endpoint lifecycle\n"
          "  logs       print an endpoint's logs    ([--follow])\n"
          "  generate   text generation (TGI)       (NAME PROMPT | --url BASE PROMPT [--stream])\n"
          "  chat       chat completion (OpenAI)    (NAME MESSAGE [--stream])\n"
          "  embed      embeddings (TEI)            (NAME TEXT...)\n"
          "  classify   text classification\n"
          "  user       user add NAME              (admin, over the API)\n"
          "  org        org add NAME | org add-member ORG USER\n"
          "  token      token create|list|revoke\n"
          "  whoami     show who the configured token belongs to\n"
          "  model      model pull|ls|rm: models on disk (HF cache, model store)\n"
          "  version    print the version\n\n"
          "Run 'endpointd <command> --help' for the options of a command.\n",
          ENDPOINTD_VERSION);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *c = argv[1];
  if (!strcmp(c, "serve")) return cmd_serve(argc - 1, argv + 1);
  if (!strcmp(c, "runtime")) return cmd_runtime(argc - 1, argv + 1);
  if (!strcmp(c, "model")) return cmd_model(argc - 1, argv + 1);
  if (!strcmp(c, "user") || !strcmp(c, "org") || !strcmp(c, "token") || !strcmp(c, "whoami"))
    return cmd_admin(argc - 1, argv + 1);
  static const char *const mgmt[] = {"create", "ls", "list", "get", "wait", "pause", "resume",
                                      "scale-to-zero", "update", "delete", "rm", "logs", NULL};
  for (int i = 0; mgmt[i]; i++)
    if (!strcmp(c, mgmt[i])) return cmd_client(argc - 1, argv + 1);
  if (!strcmp(c, "generate") || !strcmp(c, "chat") || !strcmp(c, "embed") || !strcmp(c, "classify"))
    return cmd_infer(argc - 1, argv + 1);
  if (!strcmp(c, "version") || !strcmp(c, "--version")) {
    printf("endpointd %s\n", ENDPOINTD_VERSION);
    return 0;
  }
  if (!strcmp(c, "help") || !strcmp(c, "--help") || !strcmp(c, "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "endpointd: unknown command '%s'\n\n", c);
  usage(stderr);
  return 2;
}
