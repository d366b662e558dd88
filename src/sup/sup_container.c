/* Container backend: wraps the replica in `podman run` (or docker) with the
 * options that work on this kind of host (runc, lowered ulimits, host network
 * so the replica listens on 127.0.0.1:PORT, the model folder mounted read-only
 * at /repository, env vars, a label for clean-up) and removes the container
 * after its client process exits. The podman client itself runs as a local
 * process (process group, PDEATHSIG); containers left by a killed daemon are
 * removed at the next start (ep_sup_container_cleanup). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "sup/sup-impl.h"

static int push(char ***v, size_t *n, size_t *cap, char *s) {
  if (!s) return EP_ENOMEM;
  if (*n + 2 > *cap) {
    size_t nc = *cap ? *cap * 2 : 32;
    char **nv = realloc(*v, nc * sizeof *nv);
    if (!nv) {
      free(s);
      return EP_ENOMEM;
    }
    *v = nv;
    *cap = nc;
  }
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
  return EP_OK;
}

static int container_build_argv(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec,
                                char ***out) {
  if (!spec->image || !*spec->image) return EP_EINVAL;
  char **v = NULL;
  size_t n = 0, cap = 0;
  char name[160], buf[512];
  /* container names: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
  snprintf(name, sizeof name, "%s-%s-%d-%d", s->tag, spec->key ? spec->key : "ep", (int)getpid(),
           r->id);
  for (char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '.' || *p == '_'))
      *p = '-';
  r->container_name = strdup(name);
  const char *fixed[] = {"run",
                         "--rm",
                         "--init",
                         "--runtime",
                         "runc",
                         "--ulimit",
                         "nofile=1024:1024",
                         "--ulimit",
                         "nproc=1024:1024",
                         "--network",
                         "host",
                         "--stop-timeout",
                         "5",
                         NULL};
  /* --init (catatonit) makes SIGTERM stop a shell-less PID 1; skip it when
   * podman's init binary is not installed rather than failing every start */
  int no_init = strstr(s->engine, "podman") && access("/usr/libexec/podman/catatonit", X_OK) != 0 &&
                access("/usr/bin/catatonit", X_OK) != 0;
  int rc = push(&v, &n, &cap, strdup(s->engine));
  for (size_t i = 0; fixed[i] && !rc; i++) {
    if (no_init && !strcmp(fixed[i], "--init")) continue;
    rc = push(&v, &n, &cap, strdup(fixed[i]));
  }
  if (!rc) rc = push(&v, &n, &cap, strdup("--name"));
  if (!rc) rc = push(&v, &n, &cap, strdup(name));
  snprintf(buf, sizeof buf, "endpointd.instance=%s", s->tag);
  if (!rc) rc = push(&v, &n, &cap, strdup("--label"));
  if (!rc) rc = push(&v, &n, &cap, strdup(buf));
  if (spec->mount_dir && *spec->mount_dir) {
    snprintf(buf, sizeof buf, "%s:/repository:ro", spec->mount_dir);
    if (!rc) rc = push(&v, &n, &cap, strdup("-v"));
    if (!rc) rc = push(&v, &n, &cap, strdup(buf));
  }
  snprintf(buf, sizeof buf, "PORT=%d", r->port);
  if (!rc) rc = push(&v, &n, &cap, strdup("-e"));
  if (!rc) rc = push(&v, &n, &cap, strdup(buf));
  for (size_t i = 0; spec->env && spec->env[i] && !rc; i++) {
    rc = push(&v, &n, &cap, strdup("-e"));
    if (!rc) rc = push(&v, &n, &cap, ep__sup_subst_port(spec->env[i], r->port));
  }
  if (!rc) rc = push(&v, &n, &cap, ep__sup_subst_port(spec->image, r->port));
  for (size_t i = 0; spec->argv && spec->argv[i] && !rc; i++)
    rc = push(&v, &n, &cap, ep__sup_subst_port(spec->argv[i], r->port));
  if (rc) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return rc;
  }
  *out = v;
  return EP_OK;
}

/* Runs engine with args synchronously, output discarded; returns exit code. */
static int run_engine(const char *engine, const char *const *args) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    FILE *f = freopen("/dev/null", "w", stdout);
    f = freopen("/dev/null", "w", stderr);
    (void)f;
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)engine;
    for (int i = 0; args[i] && n < 15; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    execvp(engine, argv);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void container_after_exit(ep_sup *s, ep_sup_replica *r) {
  if (!r->container_name) return;
  /* --rm removes it after a clean exit; after SIGKILL of the client it lingers */
  /* double fork: the short-lived middle child is reaped here at once, the
   * grandchild (podman rm) is adopted by init */
  pid_t pid = fork();
  if (pid == 0) {
    if (fork() == 0) {
      setsid();
      FILE *f = freopen("/dev/null", "w", stdout);
      f = freopen("/dev/null", "w", stderr);
      (void)f;
      execlp(s->engine, s->engine, "rm", "-f", "-t", "0", r->container_name, (char *)NULL);
    }
    _exit(0);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
}

int ep_sup_container_cleanup(ep_sup *s) {
  char filt[160];
  snprintf(filt, sizeof filt, "label=endpointd.instance=%s", s->tag);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s ps -aq --filter '%s' 2>/dev/null", s->engine, filt);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  char id[128];
  int n = 0;
  while (fgets(id, sizeof id, f)) {
    id[strcspn(id, "\r\n")] = 0;
    if (!*id) continue;
    const char *args[] = {"rm", "-f", "-t", "0", id, NULL};
    if (run_engine(s->engine, args) == 0) n++;
  }
  pclose(f);
  return n;
}

const ep_sup_backend ep__sup_container = {"container", container_build_argv, container_after_exit};
