/* Private to src/sched: the driver's endpoint and replica records shared by
 * sched.c (API, lookup, gateway side) and reconcile.c (the per-endpoint
 * reconcile pass, replica start/probe/stop/exit handling). */
#ifndef EP_SCHED_IMPL_H
#define EP_SCHED_IMPL_H

#include "sched/sched.h"

enum { EP_R_STARTING = 0, EP_R_READY, EP_R_DRAINING, EP_R_STOPPING, EP_R_EXITED };

struct ep_sched_replica {
  ep_sched_ep *ep;
  ep_sup_replica *sup; /* NULL once exited */
  int port, phase;
  int64_t revision;
  unsigned inflight;
  uint64_t started_ms, last_probe_ms;
  int probe_fails, probing, intentional, was_ready, timed_out;
  char host[108]; /* where the gateway sends requests (set when ready): IPv4 or a Unix socket path */
  ep_sched_replica *next;
};

struct ep_sched_ep {
  ep_sched *s;
  char ns[64], name[64];
  /* desired */
  int64_t revision;
  int min, max, stz_timeout, paused, want_asleep;
  ep_sup_backend_kind backend;
  const ep_sup_pool *pool; /* SLURM backend */
  char instance_size[16];
  char **argv, **env;
  char *image, *mount_dir, *health, *config_error;
  char *waiting; /* model not on disk yet: status message while it downloads */
  /* actual */
  int64_t serving_revision; /* revision the ready replicas run */
  int deleted, asleep, failed, update_failed;
  char *error;
  int target;
  ep_autoscale_state as;
  uint64_t last_activity, restart_at, wake_started;
  unsigned queued, inflight;
  int crashes;
  uint64_t restarts, wakes;
  double wake_sum;
  ep_sched_replica *replicas;
  /* last reported status */
  char state[16];
  int st_ready, st_target, st_valid;
  char *st_msg, *st_err;
  ep_sched_ep *next;
};

struct ep_sched {
  uv_loop_t *loop;
  ep_sup *sup;
  ep_sched_params p;
  ep_sched_io io;
  uv_timer_t *timer;
  uv_timer_t *fast; /* one-shot: re-probe starting replicas sooner than the tick */
  ep_sched_ep *eps;
};

/* reconcile.c */
void ep_sched__tick_ep(ep_sched *s, ep_sched_ep *ep, uint64_t now);
void ep_sched__replica_stop(ep_sched *s, ep_sched_replica *r);
void ep_sched__replica_unlink(ep_sched_ep *ep, ep_sched_replica *r);
/* sched.c: runs a tick after ms unless one is already due sooner */
void ep_sched__tick_soon(ep_sched *s, unsigned ms);

#endif
