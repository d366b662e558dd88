/* Supervisor: starts replica processes through a backend (local process or
 * podman container), captures their stdout/stderr line by line into the
 * endpoint's log file (rotated by size), probes their health route over HTTP,
 * stops them (SIGTERM to the process group, SIGKILL after a grace period) and
 * reaps them without blocking. Loop thread only. Policy (when to start, stop or
 * restart) lives in src/sched; this module only does what it is told. */
#ifndef EP_SUP_SUP_H
#define EP_SUP_SUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

typedef struct ep_sup ep_sup;
typedef struct ep_sup_replica ep_sup_replica;

/* SLURM: the replica is a Slurm batch job (sup_slurm.c, pool.h). */
typedef enum { EP_SUP_LOCAL = 0, EP_SUP_CONTAINER = 1, EP_SUP_SLURM = 2 } ep_sup_backend_kind;
typedef struct ep_sup_pool ep_sup_pool;

/* What to run. Strings are copied by ep_sup_replica_start(). In argv, env and
 * image strings the text "{port}" is replaced by the replica's port. LOCAL:
 * when an argv string contains "{unix}", the replica also gets a Unix-domain
 * socket path under the run dir (see ep_sup_params) in place of "{unix}" and
 * is then probed and reached there (ep_sup_replica_host); "{unix}" becomes ""
 * for the other backends and when there is no run dir. */
typedef struct {
  const char *key;      /* "ns/name": log tag */
  const char *log_path; /* per-endpoint log file (appended, rotated) */
  ep_sup_backend_kind backend;
  const char *const *argv; /* NULL-terminated; LOCAL: the program; CONTAINER: the
                            * command inside the image (may be NULL) */
  const char *const *env;  /* NULL-terminated "K=V" extra env (may be NULL) */
  const char *image;       /* CONTAINER: image reference */
  const char *mount_dir;   /* CONTAINER: host dir mounted read-only at /repository */
  int port;                /* the replica listens on 127.0.0.1:port (PORT env too) */
  /* SLURM only (borrowed; the pool outlives the replica): */
  const ep_sup_pool *pool;
  const char *instance_size; /* x1..x8: cpus/mem/gres from the pool */
  int64_t revision;          /* spec revision: a restarted daemon re-adopts matching jobs */
} ep_sup_spec;

/* Called once when the replica's process has exited and its output has been
 * drained. `exit_status` is the exit code (or -1), `term_signal` the signal
 * (0 if none). The replica is freed right after this returns. */
typedef void (*ep_sup_exit_cb)(ep_sup_replica *r, int exit_status, int term_signal, void *ud);
/* Health probe result: `status` is the HTTP status, or 0 when it could not
 * connect / timed out. */
typedef void (*ep_sup_probe_cb)(ep_sup_replica *r, int status, void *ud);

typedef struct {
  size_t log_max_bytes;         /* rotate the log file beyond this (default 4 MiB; keeps one .1) */
  unsigned stop_grace_ms;       /* SIGTERM -> SIGKILL delay (default 5000) */
  const char *container_engine; /* default "podman" */
  const char *instance_tag;     /* label value marking our containers (default "endpointd") */
  const char *instance_id;      /* SLURM: marks our jobs (job comment); e.g. the home dir */
  /* Directory for local replicas' Unix sockets (created 0700; socket files
   * nobody listens on are removed at init; each replica's file is removed
   * after it exits). NULL = local replicas use TCP only. Short: a socket path
   * must fit 107 bytes. */
  const char *run_dir;
} ep_sup_params;

ep_sup_params ep_sup_default_params(void);

/* The supervisor is owned by the caller. ep_sup_free() SIGKILLs every live
 * replica's process group (no exit callbacks), then frees; run the loop once
 * afterwards so handles close. */
int ep_sup_init(uv_loop_t *loop, const ep_sup_params *p, ep_sup **out);
void ep_sup_free(ep_sup *s);

/* Starts a replica. Returns EP_OK and sets *out (owned by the supervisor,
 * valid until the exit callback returns) or an ep_err (spawn failed: the
 * reason is also written to the log file). */
int ep_sup_replica_start(ep_sup *s, const ep_sup_spec *spec, ep_sup_exit_cb on_exit, void *ud,
                         ep_sup_replica **out);
/* SIGTERM to the process group now, SIGKILL after grace_ms (0 = at once).
 * Idempotent. The exit callback still comes. */
void ep_sup_replica_stop(ep_sup_replica *r, unsigned grace_ms);
/* GET route on the replica; cb gets the status (0 = unreachable). At most one
 * probe in flight per replica: a second call while one runs returns EP_EBUSY. */
int ep_sup_replica_probe(ep_sup_replica *r, const char *route, unsigned timeout_ms,
                         ep_sup_probe_cb cb, void *ud);
int ep_sup_replica_port(const ep_sup_replica *r);
/* Where the replica is reached: its Unix socket path (starts with '/') when
 * it has one, else the IPv4 address it listens on ("127.0.0.1" unless a
 * Slurm job on another node reported its own). Valid while r is. */
const char *ep_sup_replica_host(const ep_sup_replica *r);
pid_t ep_sup_replica_pid(const ep_sup_replica *r);
int ep_sup_replica_id(const ep_sup_replica *r);
/* Last output lines (up to max_lines, oldest first, '\n'-separated) into out
 * (NUL-terminated, truncated to outsz). */
void ep_sup_replica_last_lines(const ep_sup_replica *r, size_t max_lines, char *out, size_t outsz);

/* Reaps exited children (also done on SIGCHLD); call from the periodic tick. */
void ep_sup_reap(ep_sup *s);
size_t ep_sup_live(const ep_sup *s); /* replicas not yet exited */

/* A currently free TCP port on 127.0.0.1 (0 on failure). */
int ep_sup_free_port(void);

/* Appends `len` bytes to the log at path, rotating to path.1 when the file
 * grows beyond max_bytes. Returns EP_OK or EP_EIO. */
int ep_sup_log_append(const char *path, const char *data, size_t len, size_t max_bytes);

/* Removes leftover containers of an earlier daemon run (label instance_tag);
 * synchronous, for start-up. Returns how many were removed (or < 0). */
int ep_sup_container_cleanup(ep_sup *s);

/* SLURM (sup_slurm.c). At start-up, before the first reconcile pass: lists
 * our still-running jobs (squeue, synchronous) so that starting a replica
 * with the same key and revision re-adopts one instead of submitting a new
 * job. Returns how many were found (or < 0 when squeue failed). */
int ep_sup_slurm_scan(ep_sup *s);
/* After the first reconcile pass: scancels scanned jobs nobody re-adopted
 * (deleted endpoint, old revision, fewer replicas wanted). Returns count. */
int ep_sup_slurm_cancel_unclaimed(ep_sup *s);
/* Slurm job id of a replica (0: not submitted yet / not a Slurm replica). */
long ep_sup_replica_job(const ep_sup_replica *r);

#endif
