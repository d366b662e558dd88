/* Local-process backend: fork + exec of the replica command in its own
 * process group, with PR_SET_PDEATHSIG so a replica never outlives the daemon
 * (even after kill -9), and its stdout/stderr sent into the supervisor's pipe.
 * Only async-signal-safe calls between fork and exec. A command that asks for
 * "{unix}" gets a Unix-domain socket path under the run dir, which is then
 * the replica's address for probes and the gateway. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err.h"
#include "sup/sup-impl.h"

char *ep__sup_subst(const char *s, int port, const char *unix_path) {
  ep_buf b = EP_BUF_INIT;
  const char *p = s;
  for (;;) {
    const char *q = strchr(p, '{');
    if (!q) break;
    ep_buf_append(&b, p, (size_t)(q - p));
    if (!strncmp(q, "{port}", 6)) {
      ep_buf_printf(&b, "%d", port);
      p = q + 6;
    } else if (!strncmp(q, "{unix}", 6)) {
      ep_buf_puts(&b, unix_path ? unix_path : "");
      p = q + 6;
    } else {
      ep_buf_append(&b, q, 1);
      p = q + 1;
    }
  }
  ep_buf_puts(&b, p);
  char *out = ep_buf_steal(&b);
  return out ? out : strdup("");
}

char *ep__sup_subst_port(const char *s, int port) { return ep__sup_subst(s, port, ""); }

/* <run_dir>/<name>.<daemon pid>.<replica id>.sock: the pid keeps a restarted
 * daemon off the files of a killed one; the endpoint name (cut to fit
 * sun_path) is only there for people looking at the directory. */
void ep__sup_local_unix_path(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec) {
  r->unix_path[0] = '\0';
  int wanted = 0;
  for (size_t i = 0; spec->argv && spec->argv[i] && !wanted; i++)
    wanted = strstr(spec->argv[i], "{unix}") != NULL;
  if (!wanted || !s->run_dir[0]) return;
  char tail[48];
  int tl = snprintf(tail, sizeof tail, ".%d.%d.sock", (int)getpid(), r->id);
  size_t dl = strlen(s->run_dir);
  if (tl < 0 || dl + 1 + (size_t)tl + 1 > sizeof r->unix_path) return; /* TCP only */
  size_t room = sizeof r->unix_path - dl - 1 - (size_t)tl - 1, n = 0;
  char name[108];
  const char *k = spec->key ? strrchr(spec->key, '/') : NULL;
  k = k ? k + 1 : spec->key ? spec->key : "";
  for (; *k && n < room && n < 24; k++)
    if ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
        *k == '-' || *k == '_')
      name[n++] = *k;
  name[n] = '\0';
  snprintf(r->unix_path, sizeof r->unix_path, "%s/%s%s", s->run_dir, n ? name : "r", tail);
  unlink(r->unix_path); /* nobody can be using it: the name has our pid */
}

int ep__sup_unlink_stale_sockets(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".sock")) continue;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int w = snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, e->d_name);
    if (w < 0 || (size_t)w >= sizeof a.sun_path) continue;
    struct stat st;
    if (lstat(a.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    /* refused: the process that listened is gone (a live one is kept) */
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno == ECONNREFUSED &&
        unlink(a.sun_path) == 0)
      n++;
    close(fd);
  }
  closedir(d);
  return n;
}

pid_t ep__sup_spawn(char *const *argv, char *const *env_extra, int out_fd) {
  pid_t parent = getpid();
  /* Every signal stays blocked from fork until the child has reset the
   * daemon's handlers: a SIGTERM sent to a replica stopped right after its
   * start would otherwise run libuv's handler in the child, which writes to
   * the signal pipe it shares with the daemon, and the daemon would shut
   * itself down. The child gets such a signal after the reset (and dies). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  /* env is prepared before fork: setenv is not async-signal-safe */
  pid_t pid = fork();
  if (pid != 0) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid < 0 ? -1 : pid;
  }
  /* child */
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127); /* the daemon died before prctl */
  for (int sig = 1; sig < 32; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  /* close everything else the daemon had open (sockets, the database) */
  for (int fd = 3; fd < 4096; fd++) close(fd);
  for (size_t i = 0; env_extra && env_extra[i]; i++) putenv(env_extra[i]);
  execvp(argv[0], argv);
  static const char msg[] = "endpointd: exec failed\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(127);
}

static int local_build_argv(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec, char ***out) {
  (void)s;
  size_t n = 0;
  while (spec->argv && spec->argv[n]) n++;
  if (n == 0) return EP_EINVAL;
  char **argv = calloc(n + 1, sizeof *argv);
  if (!argv) return EP_ENOMEM;
  for (size_t i = 0; i < n; i++) argv[i] = ep__sup_subst(spec->argv[i], r->port, r->unix_path);
  *out = argv;
  return EP_OK;
}

const ep_sup_backend ep__sup_local = {"local", local_build_argv, NULL};
