/* Local-process backend: fork + exec of the replica command in its own
 * process group, with PR_SET_PDEATHSIG so a replica never outlives the daemon
 * (even after kill -9), and its stdout/stderr sent into the supervisor's pipe.
 * Only async-signal-safe calls between fork and exec. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/err.h"
#include "sup/sup-impl.h"

char *ep__sup_subst_port(const char *s, int port) {
  ep_buf b = EP_BUF_INIT;
  const char *p = s;
  for (;;) {
    const char *q = strstr(p, "{port}");
    if (!q) break;
    ep_buf_append(&b, p, (size_t)(q - p));
    ep_buf_printf(&b, "%d", port);
    p = q + 6;
  }
  ep_buf_puts(&b, p);
  char *out = ep_buf_steal(&b);
  return out ? out : strdup("");
}

pid_t ep__sup_spawn(char *const *argv, char *const *env_extra, int out_fd) {
  pid_t parent = getpid();
  /* env is prepared before fork: setenv is not async-signal-safe */
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid > 0) return pid;
  /* child */
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127); /* the daemon died before prctl */
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (int sig = 1; sig < 32; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
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
  for (size_t i = 0; i < n; i++) argv[i] = ep__sup_subst_port(spec->argv[i], r->port);
  *out = argv;
  return EP_OK;
}

const ep_sup_backend ep__sup_local = {"local", local_build_argv, NULL};
