/* `endpointd serve`: the daemon. Parses flags/env, opens the state under
 * --home (endpointd.db, secret.key, admin.token), bootstraps the admin user,
 * and runs the management plane (and, once installed, the serving hooks) on
 * one libuv loop until SIGINT/SIGTERM, then drains in-flight requests and
 * exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "auth/auth.h"
#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "cmds.h"
#include "ctl/ctl.h"
#include "gw/serving.h"
#include "http/http.h"
#include "store/store.h"
#include "sup/pool.h"

#ifndef ENDPOINTD_VERSION
#define ENDPOINTD_VERSION "0.1.0"
#endif

typedef struct {
  const char *host, *home, *log_level, *web_dir, *public_url, *config;
  int port;
  size_t max_body, max_conns;
  unsigned header_timeout_ms;
} serve_opts;

typedef struct {
  uv_loop_t *loop;
  ep_http_server *srv;
  uv_signal_t sigint, sigterm;
  int stopping;
  ep_serving *serving;
} serve_state;

static void usage(FILE *f) {
  fprintf(f,
          "usage: endpointd serve [--host H] [--port P] [--home DIR] [--log-level L]\n"
          "                       [--web-dir DIR] [--public-url URL] [--max-body-bytes N]\n\n"
          "  --host        listen address (env ENDPOINTD_HOST, default 127.0.0.1)\n"
          "  --port        listen port, 0 = any free port (env ENDPOINTD_PORT, default 8080)\n"
          "  --home        state directory (env ENDPOINTD_HOME, default ./var)\n"
          "  --log-level   debug|info|warn|error (env ENDPOINTD_LOG_LEVEL, default info)\n"
          "  --web-dir     dashboard files (env ENDPOINTD_WEB_DIR)\n"
          "  --public-url  origin used in status.url (env ENDPOINTD_PUBLIC_URL;\n"
          "                default: from the request's Host header)\n"
          "  --max-body-bytes  request body limit (env ENDPOINTD_MAX_BODY_BYTES, 8 MiB)\n"
          "  --max-connections open connections before new ones get 503 + Retry-After\n"
          "                (env ENDPOINTD_MAX_CONNECTIONS; default: half the file limit,\n"
          "                whose soft value is raised to the hard one at start)\n"
          "  --config      JSON config file: replica pools, e.g. Slurm (env ENDPOINTD_CONFIG)\n"
          "env ENDPOINTD_ADMIN_TOKEN: use this text as the admin's write token (removed\n"
          "    from the environment after start, so replicas do not inherit it).\n"
          "env ENDPOINTD_HEADER_TIMEOUT_MS: a request must arrive whole within this time\n"
          "    after its first byte, else 408 (default 10000).\n");
}

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

static int parse_opts(int argc, char **argv, serve_opts *o) {
  o->host = env_or("ENDPOINTD_HOST", "127.0.0.1");
  o->port = atoi(env_or("ENDPOINTD_PORT", "8080"));
  o->home = env_or("ENDPOINTD_HOME", "var");
  o->log_level = env_or("ENDPOINTD_LOG_LEVEL", "info");
  o->web_dir = env_or("ENDPOINTD_WEB_DIR", NULL);
  o->public_url = env_or("ENDPOINTD_PUBLIC_URL", NULL);
  o->config = env_or("ENDPOINTD_CONFIG", NULL);
  o->max_body = (size_t)strtoull(env_or("ENDPOINTD_MAX_BODY_BYTES", "8388608"), NULL, 10);
  o->max_conns = (size_t)strtoull(env_or("ENDPOINTD_MAX_CONNECTIONS", "0"), NULL, 10);
  o->header_timeout_ms = (unsigned)strtoul(env_or("ENDPOINTD_HEADER_TIMEOUT_MS", "0"), NULL, 10);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 1;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "endpointd serve: %s needs a value\n", a);
      return -1;
    }
    if (!strcmp(a, "--host"))
      o->host = v;
    else if (!strcmp(a, "--port"))
      o->port = atoi(v);
    else if (!strcmp(a, "--home"))
      o->home = v;
    else if (!strcmp(a, "--log-level"))
      o->log_level = v;
    else if (!strcmp(a, "--web-dir"))
      o->web_dir = v;
    else if (!strcmp(a, "--config"))
      o->config = v;
    else if (!strcmp(a, "--public-url"))
      o->public_url = v;
    else if (!strcmp(a, "--max-body-bytes"))
      o->max_body = (size_t)strtoull(v, NULL, 10);
    else if (!strcmp(a, "--max-connections"))
      o->max_conns = (size_t)strtoull(v, NULL, 10);
    else {
      fprintf(stderr, "endpointd serve: unknown option %s\n", a);
      return -1;
    }
    i++;
  }
  if (o->port < 0 || o->port > 65535) {
    fprintf(stderr, "endpointd serve: invalid port\n");
    return -1;
  }
  if (!o->max_body) o->max_body = 8u << 20;
  return 0;
}

static const char *pick_web_dir(const char *given) {
  struct stat sb;
  if (given) return given;
#ifdef ENDPOINTD_SOURCE_WEB_DIR
  if (stat(ENDPOINTD_SOURCE_WEB_DIR, &sb) == 0 && S_ISDIR(sb.st_mode))
    return ENDPOINTD_SOURCE_WEB_DIR;
#endif
  (void)sb;
  return NULL;
}

static int write_secret_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  size_t n = strlen(text);
  int ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
  fchmod(fd, 0600);
  close(fd);
  return ok ? 0 : -1;
}

static void on_shutdown_done(void *ctx) {
  serve_state *s = ctx;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  uv_stop(s->loop);
}

static void on_signal(uv_signal_t *h, int signum) {
  serve_state *s = h->data;
  if (s->stopping) return;
  s->stopping = 1;
  if (s->serving) ep_serving_drain(s->serving); /* held requests get 503 now, not at their deadline */
  ep_log_info("shutting down", "signal=%d inflight=%zu", signum, ep_http_server_inflight(s->srv));
  ep_http_server_shutdown(s->srv, on_shutdown_done, s);
}

/* Slurm --mem text ("2G", "512M", "512"; default unit M) -> whole GB. */
static int mem_gb(const char *m) {
  char *end;
  double v = strtod(m, &end);
  double mb = v;
  if (*end == 'K' || *end == 'k') mb = v / 1024;
  if (*end == 'G' || *end == 'g') mb = v * 1024;
  if (*end == 'T' || *end == 't') mb = v * 1024 * 1024;
  return (int)(mb / 1024 + 0.5);
}

/* Raises the soft RLIMIT_NOFILE to the hard limit (no privilege needed) so
 * the server can hold many connections; the connection limit derives from it. */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t before = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      ep_log_warn("cannot raise file limit", "soft=%llu hard=%llu err=\"%s\"",
                  (unsigned long long)before, (unsigned long long)rl.rlim_max, strerror(errno));
      return;
    }
  }
  ep_log_info("file limit", "soft=%llu was=%llu hard=%llu", (unsigned long long)rl.rlim_cur,
              (unsigned long long)before, (unsigned long long)rl.rlim_max);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

int cmd_serve(int argc, char **argv) {
  serve_opts o;
  int rc = parse_opts(argc, argv, &o);
  if (rc) return rc > 0 ? 0 : 2;
  ep_log_level lvl;
  if (ep_log_parse_level(o.log_level, &lvl)) {
    fprintf(stderr, "endpointd serve: invalid log level '%s'\n", o.log_level);
    return 2;
  }
  ep_log_set_level(lvl);
  /* A client that resets while its answer is written must not kill the
   * daemon: writes then fail with EPIPE instead (uv_spawn restores the
   * default disposition in replicas). */
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  ep_pools pools;
  char perr[512];
  if (ep_pools_load(o.config, &pools, perr, sizeof perr)) {
    fprintf(stderr, "endpointd serve: %s\n", perr);
    return 2;
  }
  ep_catalog_pool cpools[32];
  size_t ncp = 0;
  for (size_t i = 0; i < pools.n && ncp < 32; i++) {
    const ep_sup_pool *p = &pools.pools[i];
    if (p->kind != EP_POOL_SLURM) continue;
    cpools[ncp].name = p->name;
    for (int k = 0; k < 4; k++) {
      cpools[ncp].cpus[k] = p->cpus[k];
      cpools[ncp].mem_gb[k] = mem_gb(p->mem[k]);
    }
    ncp++;
  }
  ep_catalog_set_pools(cpools, ncp);
  if (mkdir(o.home, 0700) && errno != EEXIST) {
    fprintf(stderr, "endpointd serve: cannot create home %s: %s\n", o.home, strerror(errno));
    ep_pools_free(&pools);
    return 1;
  }
  char db_path[4096], key_path[4096], tok_path[4096];
  snprintf(db_path, sizeof db_path, "%s/endpointd.db", o.home);
  snprintf(key_path, sizeof key_path, "%s/secret.key", o.home);
  snprintf(tok_path, sizeof tok_path, "%s/admin.token", o.home);

  ep_store *st = NULL;
  ep_auth *auth = NULL;
  ep_ctl *ctl = NULL;
  ep_serving *serving = NULL;
  int exit_code = 1;
  if ((rc = ep_store_open(db_path, &st))) {
    fprintf(stderr, "endpointd serve: cannot open %s: %s\n", db_path, ep_strerror(rc));
    ep_pools_free(&pools);
    return 1;
  }
  if ((rc = ep_auth_open(st, key_path, &auth))) {
    fprintf(stderr, "endpointd serve: cannot load %s: %s\n", key_path, ep_strerror(rc));
    goto out;
  }
  char admin_tok[EP_TOKEN_TEXT_MAX];
  int created = 0;
  rc = ep_auth_bootstrap(auth, getenv("ENDPOINTD_ADMIN_TOKEN"), ep_wall_ms(), admin_tok,
                         sizeof admin_tok, &created);
  if (rc) {
    fprintf(stderr, "endpointd serve: admin bootstrap failed: %s\n", ep_strerror(rc));
    goto out;
  }
  /* replicas inherit the daemon's environment: the admin token must not be in it */
  unsetenv("ENDPOINTD_ADMIN_TOKEN");
  if (created) {
    if (write_secret_file(tok_path, admin_tok))
      fprintf(stderr, "endpointd serve: warning: cannot write %s\n", tok_path);
    printf("admin token (shown once; also saved to %s): %s\n", tok_path, admin_tok);
    fflush(stdout);
  }

  ep_ctl_params cp = {st, auth, ep_catalog_detect(), o.public_url, pick_web_dir(o.web_dir),
                      ENDPOINTD_VERSION, o.home};
  if ((rc = ep_ctl_init(&cp, &ctl))) goto out;

  uv_loop_t *loop = uv_default_loop();
  /* Serving subsystem (supervisor, reconciler, gateway) behind the ctl hooks. */
  char exe[4096];
  ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[exe_len > 0 ? exe_len : 0] = 0;
  ep_serving_params svp = {st, auth, o.home, exe_len > 0 ? exe : argv[0], cp.catalog.ncores,
                           &pools};
  if ((rc = ep_serving_init(loop, &svp, &serving))) {
    fprintf(stderr, "endpointd serve: serving init failed: %s\n", ep_strerror(rc));
    goto out;
  }
  ep_serving_hooks hooks = ep_serving_hooks_for(serving);
  ep_ctl_set_serving(ctl, &hooks);
  ep_serving_start(serving);
  serve_state s;
  memset(&s, 0, sizeof s);
  s.loop = loop;
  s.serving = serving;
  ep_http_server_params hp = ep_http_server_default_params();
  hp.host = o.host;
  hp.port = o.port;
  hp.max_body_bytes = o.max_body;
  hp.name = "api";
  hp.max_conns = o.max_conns;
  if (o.header_timeout_ms) hp.header_timeout_ms = o.header_timeout_ms;
  if ((rc = ep_http_server_start(loop, &hp, ep_ctl_handle, ctl, &s.srv))) {
    fprintf(stderr, "endpointd serve: cannot listen on %s:%d: %s\n", o.host, o.port,
            ep_strerror(rc));
    goto out;
  }
  uv_signal_init(loop, &s.sigint);
  uv_signal_init(loop, &s.sigterm);
  s.sigint.data = s.sigterm.data = &s;
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  printf("endpointd listening on http://%s:%d\n", o.host, ep_http_server_port(s.srv));
  fflush(stdout);
  ep_log_info("started", "home=%s port=%d max_connections=%zu", o.home,
              ep_http_server_port(s.srv), ep_http_server_max_conns(s.srv));

  uv_run(loop, UV_RUN_DEFAULT);
  ep_ctl_set_serving(ctl, NULL);
  ep_serving_free(serving); /* kills replica process groups */
  serving = NULL;
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  ep_http_server_free(s.srv);
  uv_loop_close(loop);
  exit_code = 0;
out:
  if (serving) ep_serving_free(serving);
  ep_ctl_free(ctl);
  ep_auth_free(auth);
  ep_store_close(st);
  ep_pools_free(&pools);
  return exit_code;
}
