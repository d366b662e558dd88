/* The serving subsystem wired for the daemon: supervisor + reconciler +
 * gateway behind the ctl seam (ctl/serving.h). Reads desired state from the
 * store, writes observed status and events back, authenticates data-plane
 * requests by endpoint type, serves replica logs and /metrics lines. On start
 * it re-creates every endpoint's replicas to match the stored desired state
 * (replicas of a previous daemon died with it: --parent-pid / PDEATHSIG;
 * leftover containers are removed). Loop thread only. */
#ifndef EP_GW_SERVING_H
#define EP_GW_SERVING_H

#include <jansson.h>
#include <uv.h>

#include "auth/auth.h"
#include "ctl/serving.h"
#include "sched/sched.h"
#include "store/store.h"

typedef struct ep_serving ep_serving;

typedef struct {
  ep_store *store;      /* borrowed */
  ep_auth *auth;        /* borrowed */
  const char *home;     /* state dir: logs go to <home>/logs/<ns>/<name>.log */
  const char *self_exe; /* endpointd binary for `runtime` replicas */
  int ncores;           /* threads cap per replica */
  const struct ep_pools_s *pools; /* replica pools (sup/pool.h); NULL = local only */
} ep_serving_params;

/* Tunables from the environment (tests shorten them):
 *   ENDPOINTD_SCALE_TO_ZERO_UNIT_MS   length of a scaleToZeroTimeout "minute" (60000)
 *   ENDPOINTD_REPLICA_START_TIMEOUT_MS  not healthy by then -> failed (600000)
 *   ENDPOINTD_SCALE_DOWN_WINDOW_MS    autoscaler stabilisation window (10000)
 *   ENDPOINTD_AUTOSCALE_PER_REPLICA   target pending+in-flight per replica (4)
 *   ENDPOINTD_REPLICA_CONCURRENCY     in-flight per replica before queueing (16)
 *   ENDPOINTD_HOLD_MS                 default hold while waking (120000)
 *   ENDPOINTD_QUEUE_MAX               queued requests per endpoint (256)
 *   ENDPOINTD_STOP_GRACE_MS           SIGTERM -> SIGKILL (5000)
 *   ENDPOINTD_LOG_FOLLOWERS_MAX       logs?follow=1 streams per endpoint (8)
 *   ENDPOINTD_LOG_FOLLOW_POLL_MS      how often followed log files are checked (200) */
int ep_serving_init(uv_loop_t *loop, const ep_serving_params *p, ep_serving **out);
/* The hooks to install with ep_ctl_set_serving(). */
ep_serving_hooks ep_serving_hooks_for(ep_serving *s);
/* Loads every stored endpoint and starts the reconciler tick. */
int ep_serving_start(ep_serving *s);
/* Daemon shutting down: answers every queued/held data-plane request with 503
 * at once (in-flight proxied requests finish normally). */
void ep_serving_drain(ep_serving *s);
/* Stops the tick, kills replicas (process groups), frees. Run the loop
 * afterwards so handles close. */
void ep_serving_free(ep_serving *s);

/* Translates a stored row + canonical spec into the reconciler's desired
 * state (serving_spec.c). Strings are allocated in *hold (free with
 * ep_serving_spec_clear). Never fails: problems become config_error. */
typedef struct {
  ep_sched_spec spec;
  char *argv[16];
  char *env[64];
  char *image, *mount_dir, *health, *config_error, *waiting;
} ep_serving_spec;
/* model: how the daemon resolved model.repository (hub/dlmgr.h): dir = the
 * folder on disk (or NULL), waiting = download status line while it is not
 * on disk yet, error = why it cannot be had. All NULL: use the repository as
 * given (a local folder, or nothing for custom images). */
typedef struct {
  const char *dir, *waiting, *error;
} ep_serving_model;
void ep_serving_spec_build(const ep_endpoint_row *row, json_t *spec, const char *self_exe,
                           int ncores, const ep_serving_model *model, ep_serving_spec *out);
void ep_serving_spec_clear(ep_serving_spec *s);
/* Places the endpoint on the pool its provider.region names (serving_pool.c):
 * a Slurm pool switches the replica to a batch job. */
void ep_serving_spec_place(ep_serving_spec *s, json_t *spec, const struct ep_pools_s *pools);

#endif
