/* Placeholder until the admin subcommand lands; exits with an error. */
#include <stdio.h>

#include "cmds.h"

int cmd_admin(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "endpointd: 'admin' is not built yet\n");
  return 1;
}
