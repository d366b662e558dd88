/* Placeholder until the serve subcommand lands; exits with an error. */
#include <stdio.h>

#include "cmds.h"

int cmd_serve(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "endpointd: 'serve' is not built yet\n");
  return 1;
}
