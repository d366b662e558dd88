/* Shared plumbing of the client subcommands (cmd_admin.c, cmd_client.c,
 * cmd_infer.c): a tiny option scanner, the common options (--server,
 * --token, --namespace, --json), client setup and error reporting.
 * Exit codes: 0 ok, 1 error, 2 usage, 3 timeout. */
#ifndef EP_CMD_CLI_H
#define EP_CMD_CLI_H

#include <endpointd/client.h>
#include <stdio.h>

typedef struct {
  int argc;
  char **argv;
  int i;           /* index of the current argument */
  const char *arg; /* current argument */
  int bad;         /* a usage error was printed */
  int no_more_opts; /* after "--" */
} cli_args;

typedef struct {
  const char *server, *token, *ns;
  int json;
  int url_is_server; /* --url means the origin (management commands) */
  const char *url;   /* data-plane URL (data commands) */
} cli_opts;

void cli_init(cli_args *a, int argc, char **argv); /* argv[0] is the subcommand */
int cli_next(cli_args *a);                        /* 0 when done */
int cli_flag(cli_args *a, const char *name);      /* 1 if current arg is the flag */
/* 1 if current arg is --name VALUE or --name=VALUE (alias may be NULL). */
int cli_val(cli_args *a, const char *name, const char *alias, const char **out);
int cli_int(cli_args *a, const char *name, int *out);
int cli_num(cli_args *a, const char *name, double *out);
int cli_is_positional(const cli_args *a);
int cli_unknown(cli_args *a); /* prints an error, returns 2 */
/* Common options; 1 if consumed. */
int cli_common(cli_args *a, cli_opts *o);

/* A NULL-terminated growable string list (for repeated options). */
typedef struct {
  const char **v;
  int n;
} cli_list;
int cli_list_add(cli_list *l, const char *s);
void cli_list_free(cli_list *l);

int cli_client(const cli_opts *o, ep_client **out); /* prints on error */
/* Print "endpointd: WHAT: message (HTTP n)" and return the exit code for err. */
int cli_fail(ep_client *c, int err, const char *what);

#endif
