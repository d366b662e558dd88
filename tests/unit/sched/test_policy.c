/* Unit tests for the pure scheduling policy (src/sched/policy.c): hand-worked
 * expectations for the autoscaler, idle timeout, backoff and state label. */
#include "test.h"

#include "sched/policy.h"

static void test_autoscale(void) {
  ep_policy p = ep_policy_default();
  p.per_replica = 2.0;
  p.down_window_ms = 1000;
  ep_autoscale_state st = {0};
  /* no load: floor is max(min, 1) */
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 1, 0, 100), 1);
  CHECK_INT(ep_policy_autoscale(&p, &st, 2, 4, 2, 0, 100), 2);
  /* load 5 at 2 per replica -> ceil(2.5) = 3, at once */
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 1, 5, 200), 3);
  /* load 4 -> exactly 2 */
  st.low_since_ms = 0;
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 2, 4, 200), 2);
  /* capped at max */
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 1, 100, 300), 4);
  /* scale down waits for the window */
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 4, 1, 1000), 4);
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 4, 1, 1500), 4);
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 4, 1, 1999), 4);
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 4, 1, 2000), 1);
  /* a burst inside the window resets it */
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 3, 0, 3000), 3);
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 3, 6, 3500), 3);
  CHECK_INT(st.low_since_ms, 0);
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 3, 0, 4000), 3);
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 3, 0, 4999), 3);
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 4, 3, 0, 5000), 1);
  /* odd inputs: max < 1, min > max, current out of range */
  CHECK_INT(ep_policy_autoscale(&p, &st, 0, 0, 0, 10, 6000), 1);
  CHECK_INT(ep_policy_autoscale(&p, &st, 5, 3, 9, 0, 6000), 3);
}

static void test_idle(void) {
  ep_policy p = ep_policy_default();
  p.idle_unit_ms = 100;
  CHECK_INT(ep_policy_idle_expired(&p, 0, 2, 0, 1000, 1199), 0);
  CHECK_INT(ep_policy_idle_expired(&p, 0, 2, 0, 1000, 1200), 1);
  CHECK_INT(ep_policy_idle_expired(&p, 1, 2, 0, 1000, 5000), 0); /* min > 0 never sleeps */
  CHECK_INT(ep_policy_idle_expired(&p, 0, 0, 0, 1000, 5000), 0); /* timeout 0 = off */
  CHECK_INT(ep_policy_idle_expired(&p, 0, 2, 1, 1000, 5000), 0); /* busy */
}

static void test_backoff(void) {
  ep_policy p = ep_policy_default();
  CHECK_INT(ep_policy_backoff_ms(&p, 1), 500);
  CHECK_INT(ep_policy_backoff_ms(&p, 2), 1000);
  CHECK_INT(ep_policy_backoff_ms(&p, 3), 2000);
  CHECK_INT(ep_policy_backoff_ms(&p, 7), 30000);
  CHECK_INT(ep_policy_backoff_ms(&p, 100), 30000);
  CHECK_INT(ep_policy_backoff_ms(&p, 0), 500);
}

static void test_state(void) {
  ep_observed o = {0};
  CHECK_STR(ep_policy_state(&o), "pending");
  o.starting = 1;
  CHECK_STR(ep_policy_state(&o), "initializing");
  o.ready = 1;
  CHECK_STR(ep_policy_state(&o), "running");
  o.updating = 1;
  CHECK_STR(ep_policy_state(&o), "updating");
  o.update_failed = 1;
  CHECK_STR(ep_policy_state(&o), "updateFailed");
  o = (ep_observed){0};
  o.asleep = 1;
  CHECK_STR(ep_policy_state(&o), "scaledToZero");
  o.failed = 1;
  CHECK_STR(ep_policy_state(&o), "failed");
  o.paused = 1;
  CHECK_STR(ep_policy_state(&o), "paused");
}

int main(void) {
  RUN(test_autoscale);
  RUN(test_idle);
  RUN(test_backoff);
  RUN(test_state);
  return t_finish();
}
