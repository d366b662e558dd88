/* Pure scheduling policy (see policy.h): autoscaler, idle timeout, crash
 * backoff, state label. */
#include "sched/policy.h"

ep_policy ep_policy_default(void) {
  ep_policy p = {4.0, 10000, 60000, 500, 30000, 3};
  return p;
}

int ep_policy_autoscale(const ep_policy *p, ep_autoscale_state *st, int min, int max, int current,
                        unsigned load, uint64_t now_ms) {
  if (max < 1) max = 1;
  int lo = min > 1 ? min : 1;
  if (lo > max) lo = max;
  double per = p->per_replica > 0 ? p->per_replica : 1.0;
  int want = (int)((load + per - 1e-9) / per); /* ceil */
  if ((double)want * per < (double)load) want++;
  if (want < lo) want = lo;
  if (want > max) want = max;
  if (current < lo) current = lo;
  if (current > max) current = max;
  if (want >= current) {
    st->low_since_ms = 0;
    return want;
  }
  if (st->low_since_ms == 0) st->low_since_ms = now_ms ? now_ms : 1;
  if (now_ms - st->low_since_ms >= p->down_window_ms) {
    st->low_since_ms = 0;
    return want;
  }
  return current;
}

int ep_policy_idle_expired(const ep_policy *p, int min, int timeout_units, unsigned load,
                           uint64_t last_activity_ms, uint64_t now_ms) {
  if (min != 0 || timeout_units <= 0 || load > 0) return 0;
  uint64_t limit = (uint64_t)timeout_units * p->idle_unit_ms;
  return now_ms >= last_activity_ms && now_ms - last_activity_ms >= limit;
}

uint64_t ep_policy_backoff_ms(const ep_policy *p, int n) {
  if (n < 1) n = 1;
  uint64_t d = p->backoff_base_ms;
  for (int i = 1; i < n && d < p->backoff_max_ms; i++) d *= 2;
  return d > p->backoff_max_ms ? p->backoff_max_ms : d;
}

const char *ep_policy_state(const ep_observed *o) {
  if (o->paused) return "paused";
  if (o->failed) return "failed";
  if (o->update_failed) return "updateFailed";
  if (o->updating) return "updating";
  if (o->asleep) return "scaledToZero";
  if (o->ready > 0) return "running";
  if (o->starting > 0) return "initializing";
  return "pending";
}
