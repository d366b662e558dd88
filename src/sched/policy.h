/* Scheduling policy as pure functions over observed state (no I/O, no
 * clocks: time comes in as arguments), so every rule is unit-tested directly:
 * the autoscaler (target replicas from pending + in-flight load with a
 * scale-down stabilisation window), idle scale-to-zero, crash backoff, and
 * the endpoint state label derived from what the reconciler observes. */
#ifndef EP_SCHED_POLICY_H
#define EP_SCHED_POLICY_H

#include <stdint.h>

typedef struct {
  double per_replica;       /* target load (pending + in-flight) per ready replica; default 4 */
  unsigned down_window_ms;  /* load must stay low this long before scaling down; default 10000 */
  unsigned idle_unit_ms;    /* length of one scaleToZeroTimeout unit (a minute); default 60000 */
  unsigned backoff_base_ms; /* first restart delay after a crash; default 500 */
  unsigned backoff_max_ms;  /* cap; default 30000 */
  int max_crashes_before_ready; /* consecutive crashes before ready -> failed; default 3 */
} ep_policy;

ep_policy ep_policy_default(void);

/* Autoscaler memory between ticks (zero-initialise). */
typedef struct {
  uint64_t low_since_ms; /* 0 = load not below the current target */
} ep_autoscale_state;

/* New target replica count for an awake endpoint: ceil(load / per_replica)
 * clamped to [max(min,1), max]. Up at once; down only after the wanted count
 * stayed below `current` for down_window_ms (then straight to the wanted
 * count). max < 1 is treated as 1. */
int ep_policy_autoscale(const ep_policy *p, ep_autoscale_state *st, int min, int max, int current,
                        unsigned load, uint64_t now_ms);

/* 1 when an idle endpoint should scale to zero: min == 0, timeout_units > 0,
 * no load, and the last activity is at least timeout_units * idle_unit_ms ago. */
int ep_policy_idle_expired(const ep_policy *p, int min, int timeout_units, unsigned load,
                           uint64_t last_activity_ms, uint64_t now_ms);

/* Restart delay after the n-th consecutive crash (n >= 1): base * 2^(n-1),
 * capped at backoff_max_ms. */
uint64_t ep_policy_backoff_ms(const ep_policy *p, int n);

/* What the reconciler observes about one endpoint. */
typedef struct {
  int paused;        /* desired: paused */
  int asleep;        /* scaled to zero and not waking */
  int failed;        /* gave up (crashes before ready, bad config) */
  int updating;      /* replicas of a new revision are starting while old ones serve */
  int update_failed; /* the new revision failed; old replicas still serve */
  int ready;         /* replicas answering their health route */
  int starting;      /* replicas started, not yet healthy */
} ep_observed;

/* State string of API.md Part B §3: "paused", "failed", "updateFailed",
 * "updating", "scaledToZero", "running", "initializing" or "pending". */
const char *ep_policy_state(const ep_observed *o);

#endif
