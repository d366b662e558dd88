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
extern const ep_sup_backend ep__sup_slurm;
typedef struct ep__slurm ep__slurm; /* sup_slurm.c: squeue poller, adoptable jobs */

struct ep_sup {
  uv_loop_t *loop;
  ep_sup_params p;
  char engine[64], tag[64];
  uv_signal_t sigchld;
  ep_http_client *http;
  ep_sup_replica *list; /* doubly linked: every replica not yet freed */
  int next_id;
  size_t live;
  ep__slurm *slurm; /* NULL until a Slurm replica or scan needs it */
  char instance_id[16];
  char run_dir[256]; /* "" = no Unix sockets for local replicas */
};

struct ep_sup_replica {
  ep_sup *sup;
  const ep_sup_backend *be;
  int id, port;
  pid_t pid;
  char unix_path[108]; /* LOCAL: socket the replica listens on ("" = TCP only) */
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
  /* SLURM backend */
  const ep_sup_pool *pool;
  long job_id;
  uint64_t job_gen;         /* squeue generation when the job id became known */
  char host[64];            /* from the job's address file */
  unsigned addr_ok : 1, sbatch_running : 1;
  char *out_path, *addr_path, *script_path, *env_path;
  long out_off;
  uv_process_t sbatch;
  uv_pipe_t sbatch_out;
  ep_buf sbatch_buf;
};

/* sup_local.c: fork + exec with a new process group, PR_SET_PDEATHSIG, the
 * write end of the output pipe as stdout/stderr. Returns pid or < 0. */
pid_t ep__sup_spawn(char *const *argv, char *const *env_extra, int out_fd);
/* Replaces every "{port}" in s with port and every "{unix}" with unix_path
 * ("" when NULL); heap string. subst_port: "{unix}" becomes "". */
char *ep__sup_subst(const char *s, int port, const char *unix_path);
char *ep__sup_subst_port(const char *s, int port);
/* sup_local.c: picks r->unix_path under s->run_dir when the spec's argv asks
 * for "{unix}" (left "" when there is no run dir or the path is too long). */
void ep__sup_local_unix_path(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec);
/* sup_local.c: removes socket files in dir nobody listens on; returns count. */
int ep__sup_unlink_stale_sockets(const char *dir);

/* sup.c, for backends: feed output bytes (logged line by line + tail ring);
 * report the exit once exited and eof are set. */
void ep__sup_emit(ep_sup_replica *r, const char *data, size_t len);
void ep__sup_finish(ep_sup_replica *r);
void ep__sup_on_closed(uv_handle_t *h);
/* sup_slurm.c */
int ep__sup_slurm_start(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec);
void ep__sup_slurm_stop(ep_sup_replica *r, int kill_now);
void ep__sup_slurm_poll(ep_sup *s);
int ep__sup_slurm_addr(ep_sup_replica *r); /* 1 once host/port are known */
void ep__sup_slurm_close(ep_sup_replica *r);
void ep__sup_slurm_free(ep_sup *s); /* scancels live jobs, frees the poller */
void ep__sup_slurm_tail(ep_sup_replica *r); /* job output -> log */
void ep__sup_run_detached(uv_loop_t *loop, char **argv); /* fire and forget */

/* sup_slurm_poll.c: the squeue poller and the re-adoption list */
typedef struct ep__slurm_adopt {
  long job;
  int64_t rev;
  char key[160];
  int claimed;
  struct ep__slurm_adopt *next;
} ep__slurm_adopt;

struct ep__slurm {
  uv_process_t proc;
  uv_pipe_t out;
  int running, handles;
  ep_buf buf;
  uint64_t gen, last_ms;
  ep__slurm_adopt *adopt;
  ep_sup *sup; /* NULL once the supervisor is freed */
};
ep__slurm *ep__sup_slurm_get(ep_sup *s); /* creates on first use */

#endif
