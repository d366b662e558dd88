/* Reconciler tick driver: per-endpoint runtime state (replicas, load, crash
 * count, sleep) that brings actual replicas to the desired state every tick
 * through the supervisor, applying the pure rules of policy.h, and reports the
 * observed status through a small I/O vtable (the daemon writes it to the
 * store). The gateway reads ready replicas and reports load here. Loop thread
 * only. */
#ifndef EP_SCHED_SCHED_H
#define EP_SCHED_SCHED_H

#include <stdint.h>
#include <uv.h>

#include "sched/policy.h"
#include "sup/sup.h"

typedef struct ep_sched ep_sched;
typedef struct ep_sched_ep ep_sched_ep;
typedef struct ep_sched_replica ep_sched_replica;

/* Desired state of one endpoint, as the daemon derives it from the store
 * row. Strings are copied by ep_sched_apply(). */
typedef struct {
  int64_t revision; /* bumps on spec change -> rolling update */
  int min_replica, max_replica;
  int scale_to_zero_timeout; /* units of policy.idle_unit_ms (minutes); 0 = never */
  int paused;                /* desired paused */
  int scale_to_zero;         /* desired asleep (until a request wakes it) */
  ep_sup_backend_kind backend;
  const char *const *argv;       /* replica command ("{port}" substituted) */
  const char *const *env;        /* "K=V" */
  const char *image, *mount_dir; /* container backend */
  const char *health_route;      /* default "/health" */
  const char *config_error;      /* non-NULL: cannot run (e.g. missing model dir) -> failed */
  const char *waiting;           /* non-NULL: not startable yet (model downloading): start
                                  * nothing new, report initializing/updating with this message */
  /* placement: a Slurm pool (backend EP_SUP_SLURM; borrowed, lives as long
   * as the daemon) and the instance size that picks its cpus/mem */
  const ep_sup_pool *pool;
  const char *instance_size;
} ep_sched_spec;

/* Observed status of one endpoint (strings borrowed for the call). */
typedef struct {
  const char *state;
  const char *message;       /* may be NULL */
  const char *error_message; /* NULL unless failed / updateFailed */
  int ready_replica, target_replica;
} ep_sched_status;

/* How the driver talks to the rest of the daemon. All slots optional. */
typedef struct {
  /* status changed (called only when something in it changed) */
  void (*status)(void *ctx, const char *ns, const char *name, const ep_sched_status *st);
  /* an event for the endpoint's event log ("replica", "scale", "wake", ...) */
  void (*event)(void *ctx, const char *ns, const char *name, const char *kind, const char *msg);
  /* the endpoint fell asleep (idle timeout) or woke: persist the desired flag */
  void (*set_asleep)(void *ctx, const char *ns, const char *name, int asleep);
  /* a replica became ready or the endpoint's capacity changed (gateway: retry queue) */
  void (*capacity)(void *ctx, ep_sched_ep *ep);
  /* a replica of ns/name needs a log file path (copied) */
  const char *(*log_path)(void *ctx, const char *ns, const char *name);
  void *ctx;
} ep_sched_io;

typedef struct {
  ep_policy policy;
  unsigned tick_ms;           /* default 100 */
  unsigned start_timeout_ms;  /* replica not healthy by then -> killed, counts as a crash; 600000 */
  unsigned probe_interval_ms; /* ready replicas re-probed this often; default 2000 */
  unsigned stop_grace_ms;     /* default 5000 */
  int replica_concurrency;    /* in-flight requests per replica before queueing; default 16 */
} ep_sched_params;

ep_sched_params ep_sched_default_params(void);

/* Borrowed sup; the io vtable is copied. Free with ep_sched_free() (stops the
 * tick; replicas are left to ep_sup_free). */
int ep_sched_init(uv_loop_t *loop, ep_sup *sup, const ep_sched_params *p, const ep_sched_io *io,
                  ep_sched **out);
void ep_sched_free(ep_sched *s);
/* Starts the periodic tick (p.tick_ms). */
void ep_sched_start(ep_sched *s);
/* One reconcile pass over every endpoint (the tick calls this). */
void ep_sched_tick(ep_sched *s);

/* Sets the desired state of ns/name (spec == NULL: the endpoint was deleted).
 * A changed revision starts a rolling update; leaving paused or failed
 * restarts from pending. */
int ep_sched_apply(ep_sched *s, const char *ns, const char *name, const ep_sched_spec *spec);

/* ---- gateway side -------------------------------------------------------- */
ep_sched_ep *ep_sched_find(ep_sched *s, const char *ns, const char *name);
const char *ep_sched_ep_state(const ep_sched_ep *ep);
int ep_sched_ep_paused(const ep_sched_ep *ep);
int ep_sched_ep_failed(const ep_sched_ep *ep);
const char *ep_sched_ep_error(const ep_sched_ep *ep); /* errorMessage or NULL */
/* 1 while scaled to zero or waking from zero (no replica ready since the wake). */
int ep_sched_ep_waking(const ep_sched_ep *ep);
/* Least-in-flight ready replica with room (in-flight < replica_concurrency),
 * NULL when none. */
ep_sched_replica *ep_sched_pick(ep_sched_ep *ep);
/* Same, never returning except (a retry after except refused the connection:
 * it stays ready until the supervisor or a probe notices, e.g. a Slurm job
 * cancelled behind the daemon's back). */
ep_sched_replica *ep_sched_pick_except(ep_sched_ep *ep, const ep_sched_replica *except);
/* Marks a request in flight on r (r stays valid until the matching release,
 * even if the replica exits). */
void ep_sched_replica_acquire(ep_sched_replica *r);
void ep_sched_replica_release(ep_sched_replica *r);
int ep_sched_replica_port(const ep_sched_replica *r);
/* IPv4 address of the replica ("127.0.0.1" unless it runs on another node). */
const char *ep_sched_replica_host(const ep_sched_replica *r);
/* Requests waiting in the gateway queue for this endpoint (load signal). A
 * positive count wakes a scaled-to-zero endpoint. */
void ep_sched_ep_set_queued(ep_sched_ep *ep, unsigned n);
/* Records data-plane activity (resets the idle timer) and wakes an asleep
 * endpoint. */
void ep_sched_ep_touch(ep_sched_ep *ep);
void ep_sched_ep_wake(ep_sched_ep *ep);
void ep_sched_ep_name(const ep_sched_ep *ep, const char **ns, const char **name);

/* ---- metrics ------------------------------------------------------------- */
typedef struct {
  const char *ns, *name, *state;
  int ready, target, starting;
  unsigned inflight, queued;
  uint64_t restarts, wakes;
  double wake_seconds_sum; /* total time from wake to first ready replica */
} ep_sched_ep_stats;
/* Calls cb for every endpoint. */
void ep_sched_foreach(ep_sched *s, void (*cb)(void *ctx, const ep_sched_ep_stats *st), void *ctx);

#endif
