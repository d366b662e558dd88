/* Unit tests for the reconciler driver (src/sched/sched.c, reconcile.c) with
 * the real supervisor and the stand-in replica: pending -> initializing ->
 * running, least-in-flight pick, pause/resume, scale to zero and wake,
 * rolling update to a new revision, crash restart, failed after repeated
 * crashes before ready with the last log lines, delete. */
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/time.h"
#include "sched/sched.h"

static uv_loop_t *loop;
static ep_sup *sup;
static ep_sched *sch;
static char fixture[512], logp[256], states[2048], last_err[4096];
static int n_ready_events, asleep_flag = -1;

static void io_status(void *ctx, const char *ns, const char *name, const ep_sched_status *st) {
  (void)ctx;
  (void)ns;
  (void)name;
  size_t l = strlen(states);
  const char *prev = strrchr(states, ' ');
  if (!prev || strcmp(prev + 1, st->state) != 0)
    snprintf(states + l, sizeof states - l, " %s", st->state);
  if (st->error_message) snprintf(last_err, sizeof last_err, "%s", st->error_message);
}
static void io_event(void *ctx, const char *ns, const char *name, const char *kind,
                     const char *msg) {
  (void)ctx;
  (void)ns;
  (void)name;
  (void)kind;
  if (strstr(msg, "ready on port")) n_ready_events++;
}
static void io_asleep(void *ctx, const char *ns, const char *name, int a) {
  (void)ctx;
  (void)ns;
  (void)name;
  asleep_flag = a;
}
static const char *io_log(void *ctx, const char *ns, const char *name) {
  (void)ctx;
  (void)ns;
  (void)name;
  return logp;
}

static int wait_state(const char *ns, const char *name, const char *want, unsigned ms) {
  uint64_t end = ep_mono_ms() + ms;
  while (ep_mono_ms() < end) {
    uv_run(loop, UV_RUN_NOWAIT);
    ep_sched_ep *ep = ep_sched_find(sch, ns, name);
    if (ep && !strcmp(ep_sched_ep_state(ep), want)) return 1;
    usleep(5000);
  }
  ep_sched_ep *ep = ep_sched_find(sch, ns, name);
  fprintf(stderr, "state is %s, wanted %s (history:%s)\n", ep ? ep_sched_ep_state(ep) : "gone",
          want, states);
  return 0;
}

static ep_sched_spec spec(const char *const *argv, int64_t rev) {
  ep_sched_spec sp = {0};
  sp.revision = rev;
  sp.min_replica = 1;
  sp.max_replica = 2;
  sp.argv = argv;
  sp.health_route = "/health";
  return sp;
}

static void test_lifecycle(void) {
  const char *argv[] = {"python3", fixture, "--port", "{port}", "--ready-after", "0.2", NULL};
  ep_sched_spec sp = spec(argv, 1);
  CHECK_INT(ep_sched_apply(sch, "ns", "a", &sp), 0);
  CHECK(wait_state("ns", "a", "running", 10000));
  CHECK(strstr(states, "initializing running") != NULL);
  ep_sched_ep *ep = ep_sched_find(sch, "ns", "a");
  ep_sched_replica *r = ep_sched_pick(ep);
  CHECK(r != NULL);
  if (!r) return;
  CHECK(ep_sched_replica_port(r) > 0);
  ep_sched_replica_acquire(r);
  ep_sched_replica_release(r);

  /* rolling update: the new revision becomes ready, the old one drains */
  states[0] = 0;
  int before = n_ready_events;
  sp.revision = 2;
  CHECK_INT(ep_sched_apply(sch, "ns", "a", &sp), 0);
  CHECK(wait_state("ns", "a", "updating", 3000));
  CHECK(wait_state("ns", "a", "running", 10000));
  CHECK(n_ready_events > before);
  ep_sched_replica *r2 = ep_sched_pick(ep);
  CHECK(r2 != NULL && ep_sched_replica_port(r2) != 0);

  /* pause stops everything; resume brings it back */
  sp.paused = 1;
  ep_sched_apply(sch, "ns", "a", &sp);
  CHECK(wait_state("ns", "a", "paused", 2000));
  CHECK(ep_sched_pick(ep) == NULL);
  sp.paused = 0;
  ep_sched_apply(sch, "ns", "a", &sp);
  CHECK(wait_state("ns", "a", "running", 10000));

  /* scale to zero, then a queued request wakes it */
  sp.scale_to_zero = 1;
  ep_sched_apply(sch, "ns", "a", &sp);
  CHECK(wait_state("ns", "a", "scaledToZero", 2000));
  uint64_t t0 = ep_mono_ms();
  while (ep_mono_ms() - t0 < 300) uv_run(loop, UV_RUN_NOWAIT);
  CHECK(ep_sched_pick(ep) == NULL);
  ep_sched_ep_set_queued(ep, 1);
  CHECK_INT(asleep_flag, 0);
  CHECK(wait_state("ns", "a", "running", 10000));
  ep_sched_ep_set_queued(ep, 0);

  /* delete: the endpoint disappears */
  ep_sched_apply(sch, "ns", "a", NULL);
  CHECK(ep_sched_find(sch, "ns", "a") == NULL);
}

static void test_crash_to_failed(void) {
  states[0] = 0;
  last_err[0] = 0;
  const char *argv[] = {"python3",      fixture, "--port", "{port}", "--never-ready",
                        "--exit-after", "0.1",   "9",      NULL};
  ep_sched_spec sp = spec(argv, 1);
  ep_sched_apply(sch, "ns", "bad", &sp);
  CHECK(wait_state("ns", "bad", "failed", 15000));
  CHECK(strstr(last_err, "exited with status 9 before becoming ready") != NULL);
  CHECK(strstr(last_err, "fatal: stand-in exiting with code 9") != NULL);
  /* config error fails at once */
  ep_sched_spec sp2 = spec(argv, 1);
  sp2.config_error = "model repository '/nope' is not a local folder";
  ep_sched_apply(sch, "ns", "cfg", &sp2);
  CHECK(wait_state("ns", "cfg", "failed", 1000));
  CHECK(strstr(last_err, "/nope") != NULL);
}

static void test_idle_timeout(void) {
  const char *argv[] = {"python3", fixture, "--port", "{port}", NULL};
  ep_sched_spec sp = spec(argv, 1);
  sp.min_replica = 0;
  sp.scale_to_zero_timeout = 1; /* one unit = 300 ms here */
  ep_sched_apply(sch, "ns", "idle", &sp);
  CHECK(wait_state("ns", "idle", "running", 10000));
  CHECK(wait_state("ns", "idle", "scaledToZero", 3000));
  CHECK_INT(asleep_flag, 1);
}

int main(void) {
  const char *src = getenv("EP_SOURCE_DIR");
  snprintf(fixture, sizeof fixture, "%s/tests/e2e/fixtures/replica.py", src ? src : ".");
  snprintf(logp, sizeof logp, "/tmp/ep-sched-test-%d.log", (int)getpid());
  loop = uv_default_loop();
  CHECK_INT(ep_sup_init(loop, NULL, &sup), 0);
  ep_sched_params p = ep_sched_default_params();
  p.policy.backoff_base_ms = 50;
  p.policy.idle_unit_ms = 300;
  p.stop_grace_ms = 2000;
  p.tick_ms = 20;
  ep_sched_io io = {io_status, io_event, io_asleep, NULL, io_log, NULL};
  CHECK_INT(ep_sched_init(loop, sup, &p, &io, &sch), 0);
  ep_sched_start(sch);
  RUN(test_lifecycle);
  RUN(test_crash_to_failed);
  RUN(test_idle_timeout);
  ep_sched_free(sch);
  ep_sup_free(sup);
  uv_run(loop, UV_RUN_DEFAULT);
  unlink(logp);
  return t_finish();
}
