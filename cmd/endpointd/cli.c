/* Option scanning, client setup and error printing for the client
 * subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_init(cli_args *a, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  a->argc = argc;
  a->argv = argv;
  a->i = 0;
}

int cli_next(cli_args *a) {
  if (a->bad) return 0;
  a->i++;
  if (a->i >= a->argc) return 0;
  a->arg = a->argv[a->i];
  if (!a->no_more_opts && !strcmp(a->arg, "--")) {
    a->no_more_opts = 1;
    return cli_next(a);
  }
  return 1;
}

int cli_is_positional(const cli_args *a) {
  return a->no_more_opts || a->arg[0] != '-' || !strcmp(a->arg, "-");
}

int cli_flag(cli_args *a, const char *name) { return !cli_is_positional(a) && !strcmp(a->arg, name); }

static int match_val(cli_args *a, const char *name, const char **out) {
  if (!name || cli_is_positional(a)) return 0;
  size_t n = strlen(name);
  if (strncmp(a->arg, name, n)) return 0;
  if (a->arg[n] == '=') {
    *out = a->arg + n + 1;
    return 1;
  }
  if (a->arg[n]) return 0;
  if (a->i + 1 >= a->argc) {
    fprintf(stderr, "endpointd %s: option %s needs a value\n", a->argv[0], name);
    a->bad = 1;
    *out = NULL;
    return 1;
  }
  *out = a->argv[++a->i];
  return 1;
}

int cli_val(cli_args *a, const char *name, const char *alias, const char **out) {
  return match_val(a, name, out) || match_val(a, alias, out);
}

int cli_int(cli_args *a, const char *name, int *out) {
  const char *v;
  if (!cli_val(a, name, NULL, &v)) return 0;
  if (!v) return 1;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || *end || end == v || x < 0 || x > 1000000000) {
    fprintf(stderr, "endpointd %s: %s expects a non-negative integer, got '%s'\n", a->argv[0], name, v);
    a->bad = 1;
    return 1;
  }
  *out = (int)x;
  return 1;
}

int cli_num(cli_args *a, const char *name, double *out) {
  const char *v;
  if (!cli_val(a, name, NULL, &v)) return 0;
  if (!v) return 1;
  char *end;
  double x = strtod(v, &end);
  if (*end || end == v || x < 0) {
    fprintf(stderr, "endpointd %s: %s expects a non-negative number, got '%s'\n", a->argv[0], name, v);
    a->bad = 1;
    return 1;
  }
  *out = x;
  return 1;
}

int cli_unknown(cli_args *a) {
  if (!a->bad) fprintf(stderr, "endpointd %s: unexpected argument '%s' (try --help)\n", a->argv[0], a->arg);
  a->bad = 1;
  return 2;
}

int cli_common(cli_args *a, cli_opts *o) {
  const char *v;
  if (cli_val(a, "--server", NULL, &o->server)) return 1;
  if (cli_val(a, "--token", NULL, &o->token)) return 1;
  if (cli_val(a, "--namespace", "-n", &o->ns)) return 1;
  if (cli_flag(a, "--json")) return o->json = 1;
  if (cli_val(a, "--url", NULL, &v)) {
    if (o->url_is_server) o->server = v;
    else o->url = v;
    return 1;
  }
  return 0;
}

int cli_list_add(cli_list *l, const char *s) {
  const char **v = realloc(l->v, (size_t)(l->n + 2) * sizeof *v);
  if (!v) return -1;
  l->v = v;
  v[l->n++] = s;
  v[l->n] = NULL;
  return 0;
}

void cli_list_free(cli_list *l) {
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

int cli_client(const cli_opts *o, ep_client **out) {
  ep_client_params p = ep_client_default_params();
  p.url = o->server;
  p.token = o->token;
  p.user_agent = "endpointd-cli/0.1.0";
  int err = ep_client_init(out, &p);
  if (err == EP_CLIENT_EINVAL) {
    fprintf(stderr, "endpointd: invalid server URL '%s' (expected http://host:port)\n",
            o->server ? o->server : "(from environment)");
    return 2;
  }
  if (err) {
    fprintf(stderr, "endpointd: %s\n", ep_client_strerror(err));
    return 1;
  }
  return 0;
}

int cli_fail(ep_client *c, int err, const char *what) {
  const char *m = c ? ep_client_message(c) : "";
  int st = c ? ep_client_http_status(c) : 0;
  if (!m || !*m) m = ep_client_strerror(err);
  if (st >= 400)
    fprintf(stderr, "endpointd: %s: %s (HTTP %d: %s)\n", what, m, st, ep_client_strerror(err));
  else if (err == EP_CLIENT_ECONN)
    fprintf(stderr, "endpointd: %s: cannot connect: %s\n", what, m);
  else
    fprintf(stderr, "endpointd: %s: %s\n", what, m);
  return err == EP_CLIENT_ETIMEOUT ? 3 : 1;
}
