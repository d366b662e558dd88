/* Private to src/sup: the supervisor and replica structs shared by sup.c
 * (lifecycle, logs, reaping, probes) and the backends (sup_local.c spawns a
 * process group; sup_container.c builds a podman command line and cleans up
 * containers). A backend is a small vtable. */
#ifndef EP_SUP_IMPL_H
#define EP_SUP_IMPL_H

#include "base/buf.h"
#include "http/client.h"
#include "sup/sup.h"

#define EP_SUP_TAIL_LINES 32

typedef struct {
  const char *name;
  /* Builds the final argv (heap strings, NULL-terminated) for the spec; the
   * local backend copies it, the container backend wraps it in podman run. */
  int (*build_argv)(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec, char ***argv);
  /* Extra cleanup after the process group is gone (container: podman rm -f). */
  void (*after_exit)(ep_sup *s, ep_sup_replica *r);
} ep_sup_backend;

extern const ep_sup_backend ep__sup_local;
extern const ep_sup_backend ep__sup_container;

struct ep_sup {
  uv_loop_t *loop;
  ep_sup_params p;
  char engine[64], tag[64];
  uv_signal_t sigchld;
  ep_http_client *http;
  ep_sup_replica *list; /* doubly linked: every replica not yet freed */
  int next_id;
  size_t live;
};

struct ep_sup_replica {
  ep_sup *sup;
  const ep_sup_backend *be;
  int id, port;
  pid_t pid;
  char *key, *log_path, *container_name;
  uv_pipe_t out;    /* read end of the child's stdout+stderr */
  uv_timer_t timer; /* SIGKILL after grace; then the drain deadline */
  int handles;      /* open uv handles (out, timer) */
  ep_buf partial;   /* output bytes without a newline yet */
  char *tail[EP_SUP_TAIL_LINES];
  size_t tail_next, tail_n;
  ep_sup_exit_cb on_exit;
  void *ud;
  int exit_status, term_signal;
  unsigned exited : 1, eof : 1, stopping : 1, reported : 1, pipe_open : 1;
  ep_http_creq *probe;
  ep_sup_probe_cb probe_cb;
  int probe_status;
  void *probe_ud;
  ep_sup_replica *prev, *next;
};

/* sup_local.c: fork + exec with a new process group, PR_SET_PDEATHSIG, the
 * write end of the output pipe as stdout/stderr. Returns pid or < 0. */
pid_t ep__sup_spawn(char *const *argv, char *const *env_extra, int out_fd);
/* Replaces every "{port}" in s with port; heap string. */
char *ep__sup_subst_port(const char *s, int port);

#endif
