/* Placeholder until the runtime subcommand lands; exits with an error. */
#include <stdio.h>

#include "cmds.h"

int cmd_runtime(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "endpointd: 'runtime' is not built yet\n");
  return 1;
}
