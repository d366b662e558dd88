/* The per-endpoint reconcile pass (sched-impl.h): decides, from desired and
 * observed state plus policy.h, which replicas to start, probe, drain and
 * stop; handles replica exits (crash restarts with backoff, failed after
 * repeated crashes before ready, updateFailed when a new revision cannot
 * start); and reports status changes through the io vtable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/time.h"
#include "sched/sched-impl.h"

static void emit_event(ep_sched_ep *ep, const char *kind, const char *msg) {
  ep_sched_io *io = &ep->s->io;
  if (io->event) io->event(io->ctx, ep->ns, ep->name, kind, msg);
}

void ep_sched__replica_unlink(ep_sched_ep *ep, ep_sched_replica *r) {
  for (ep_sched_replica **pp = &ep->replicas; *pp; pp = &(*pp)->next) {
    if (*pp == r) {
      *pp = r->next;
      free(r);
      return;
    }
  }
}

void ep_sched__replica_stop(ep_sched *s, ep_sched_replica *r) {
  if (r->phase == EP_R_STOPPING || r->phase == EP_R_EXITED) return;
  r->phase = EP_R_STOPPING;
  r->intentional = 1;
  if (r->sup) ep_sup_replica_stop(r->sup, s->p.stop_grace_ms);
}

static void fail_endpoint(ep_sched_ep *ep, const char *msg, int update) {
  free(ep->error);
  ep->error = strdup(msg);
  if (update) {
    ep->update_failed = 1;
    emit_event(ep, "updateFailed", msg);
  } else {
    ep->failed = 1;
    emit_event(ep, "failed", msg);
  }
  ep_log_warn("endpoint failed", "endpoint=%s/%s update=%d", ep->ns, ep->name, update);
}

static void on_replica_exit(ep_sup_replica *sr, int status, int sig, void *ud) {
  ep_sched_replica *r = ud;
  ep_sched_ep *ep = r->ep;
  ep_sched *s = ep->s;
  uint64_t now = ep_mono_ms();
  int was_phase = r->phase;
  r->sup = NULL;
  r->phase = EP_R_EXITED;
  char what[160];
  if (r->timed_out)
    snprintf(what, sizeof what, "replica did not become healthy within %u s",
             s->p.start_timeout_ms / 1000);
  else if (sig)
    snprintf(what, sizeof what, "replica killed by signal %d", sig);
  else
    snprintf(what, sizeof what, "replica exited with status %d", status);
  if (!r->intentional || r->timed_out) {
    ep->restarts++;
    char lines[2048];
    ep_sup_replica_last_lines(sr, 10, lines, sizeof lines);
    ep_buf msg = EP_BUF_INIT;
    ep_buf_printf(&msg, "%s%s", what, r->was_ready || r->timed_out ? "" : " before becoming ready");
    if (lines[0]) ep_buf_printf(&msg, "; last log lines:\n%s", lines);
    emit_event(ep, "replica", ep_buf_cstr(&msg));
    if (!r->was_ready) {
      ep->crashes++;
      int updating = r->revision != ep->serving_revision;
      int old_alive = 0;
      for (ep_sched_replica *o = ep->replicas; o; o = o->next)
        if (o != r && o->revision != r->revision && o->phase == EP_R_READY) old_alive = 1;
      if (ep->crashes >= s->p.policy.max_crashes_before_ready || (r->timed_out && !updating)) {
        fail_endpoint(ep, ep_buf_cstr(&msg), updating && old_alive);
      } else {
        ep->restart_at = now + ep_policy_backoff_ms(&s->p.policy, ep->crashes);
      }
    } else {
      ep->crashes = 0;
      ep->restart_at = now + ep_policy_backoff_ms(&s->p.policy, 1);
    }
    ep_buf_free(&msg);
  }
  (void)was_phase;
  if (r->inflight == 0) ep_sched__replica_unlink(ep, r);
  if (s->io.capacity && !ep->deleted) s->io.capacity(s->io.ctx, ep);
}

static void on_probe(ep_sup_replica *sr, int status, void *ud) {
  (void)sr;
  ep_sched_replica *r = ud;
  ep_sched_ep *ep = r->ep;
  r->probing = 0;
  if (r->phase == EP_R_EXITED || r->phase == EP_R_STOPPING) return;
  uint64_t now = ep_mono_ms();
  if (status == 200) {
    r->probe_fails = 0;
    if (r->phase == EP_R_STARTING) {
      int first = 1;
      for (ep_sched_replica *o = ep->replicas; o; o = o->next)
        if (o->phase == EP_R_READY) first = 0;
      if (first) ep->last_activity = now; /* the idle clock starts once it serves */
      r->phase = EP_R_READY;
      r->was_ready = 1;
      /* a Slurm job reports where it listens; local replicas: 127.0.0.1 */
      r->port = ep_sup_replica_port(r->sup);
      snprintf(r->host, sizeof r->host, "%s", ep_sup_replica_host(r->sup));
      ep->crashes = 0;
      if (r->revision == ep->revision) ep->serving_revision = ep->revision;
      if (ep->wake_started) {
        ep->wakes++;
        ep->wake_sum += (double)(now - ep->wake_started) / 1000.0;
        ep->wake_started = 0;
      }
      char msg[96];
      snprintf(msg, sizeof msg, "replica %d ready on port %d after %.2f s",
               ep_sup_replica_id(r->sup), r->port, (double)(now - r->started_ms) / 1000.0);
      emit_event(ep, "replica", msg);
      ep_sched__tick_ep(ep->s, ep, now);
      if (ep->s->io.capacity) ep->s->io.capacity(ep->s->io.ctx, ep);
    }
    return;
  }
  if (r->phase == EP_R_STARTING) {
    ep_sched__tick_soon(ep->s, 25); /* not up yet: look again soon (wake latency) */
    return;
  }
  if (r->phase == EP_R_READY && ++r->probe_fails >= 3) {
    emit_event(ep, "replica", "replica stopped answering its health route; restarting");
    r->phase = EP_R_STOPPING;
    r->intentional = 0; /* counts as a crash */
    if (r->sup) ep_sup_replica_stop(r->sup, 1000);
  }
}

static void start_replica(ep_sched *s, ep_sched_ep *ep, uint64_t now) {
  int port = ep_sup_free_port();
  const char *logp = s->io.log_path ? s->io.log_path(s->io.ctx, ep->ns, ep->name) : NULL;
  char fallback[256];
  if (!logp) {
    snprintf(fallback, sizeof fallback, "/tmp/endpointd-%s-%s.log", ep->ns, ep->name);
    logp = fallback;
  }
  char key[160];
  snprintf(key, sizeof key, "%s/%s", ep->ns, ep->name);
  ep_sup_spec sp = {key,
                    logp,
                    ep->backend,
                    (const char *const *)ep->argv,
                    (const char *const *)ep->env,
                    ep->image,
                    ep->mount_dir,
                    port,
                    ep->pool,
                    ep->instance_size,
                    ep->revision};
  ep_sched_replica *r = calloc(1, sizeof *r);
  if (!r) return;
  r->ep = ep;
  r->port = port;
  r->revision = ep->revision;
  r->started_ms = now;
  int rc = port > 0 ? ep_sup_replica_start(s->sup, &sp, on_replica_exit, r, &r->sup) : -1;
  if (rc) {
    free(r);
    ep->crashes++;
    if (ep->crashes >= s->p.policy.max_crashes_before_ready)
      fail_endpoint(ep, "could not start a replica process (see the endpoint logs)", 0);
    else
      ep->restart_at = now + ep_policy_backoff_ms(&s->p.policy, ep->crashes);
    return;
  }
  r->next = ep->replicas;
  ep->replicas = r;
}

static void probe(ep_sched_replica *r, uint64_t now) {
  if (r->probing || !r->sup) return;
  r->last_probe_ms = now;
  if (ep_sup_replica_probe(r->sup, r->ep->health, 2000, on_probe, r) == 0) r->probing = 1;
}

static void stop_all(ep_sched *s, ep_sched_ep *ep, int drain) {
  for (ep_sched_replica *r = ep->replicas; r; r = r->next) {
    if (r->phase == EP_R_STOPPING || r->phase == EP_R_EXITED) continue;
    if (drain && r->inflight > 0) {
      r->phase = EP_R_DRAINING;
      continue;
    }
    ep_sched__replica_stop(s, r);
  }
}

static void report(ep_sched *s, ep_sched_ep *ep) {
  ep_observed o = {0};
  o.paused = ep->paused;
  o.asleep = ep->asleep;
  o.failed = ep->failed || (ep->config_error && !ep->paused);
  o.update_failed = ep->update_failed;
  int old_alive = 0, cur_any = 0;
  for (ep_sched_replica *r = ep->replicas; r; r = r->next) {
    if (r->phase == EP_R_READY) o.ready++;
    if (r->phase == EP_R_STARTING) o.starting++;
    if (r->phase == EP_R_EXITED || r->phase == EP_R_STOPPING) continue;
    if (r->revision != ep->revision)
      old_alive = 1;
    else
      cur_any = 1;
  }
  o.updating = old_alive && cur_any && !ep->update_failed;
  if (ep->asleep && (o.ready || o.starting)) o.asleep = 1;
  const char *state = ep_policy_state(&o);
  /* waking from zero: initializing until a replica is ready */
  int target = (ep->paused || ep->asleep || ep->failed) ? 0 : ep->target;
  const char *err =
      (o.failed || o.update_failed) ? (ep->error ? ep->error : ep->config_error) : NULL;
  char msg[320] = "";
  if (!strcmp(state, "running") && o.ready < target)
    snprintf(msg, sizeof msg, "Endpoint is running (%d of %d replicas ready)", o.ready, target);
  if (ep->waiting && !o.failed && !ep->paused && !ep->asleep) {
    /* model files still downloading: old replicas (if any) keep serving */
    state = o.ready ? "updating" : "initializing";
    snprintf(msg, sizeof msg, "%s", ep->waiting);
  }
  int same = ep->st_valid && !strcmp(ep->state, state) && ep->st_ready == o.ready &&
             ep->st_target == target && !strcmp(ep->st_msg ? ep->st_msg : "", msg) &&
             !strcmp(ep->st_err ? ep->st_err : "", err ? err : "");
  if (same) return;
  if (strcmp(ep->state, state) != 0)
    ep_log_info("endpoint state", "endpoint=%s/%s from=%s to=%s", ep->ns, ep->name,
                ep->state[0] ? ep->state : "-", state);
  snprintf(ep->state, sizeof ep->state, "%s", state);
  ep->st_ready = o.ready;
  ep->st_target = target;
  ep->st_valid = 1;
  free(ep->st_msg);
  free(ep->st_err);
  ep->st_msg = strdup(msg);
  ep->st_err = strdup(err ? err : "");
  if (s->io.status) {
    ep_sched_status st = {state, msg[0] ? msg : NULL, err, o.ready, target};
    s->io.status(s->io.ctx, ep->ns, ep->name, &st);
  }
}

void ep_sched__tick_ep(ep_sched *s, ep_sched_ep *ep, uint64_t now) {
  if (ep->deleted) {
    stop_all(s, ep, 0);
    return;
  }
  if (ep->paused || ep->failed || ep->config_error) {
    if (ep->config_error && !ep->failed && !ep->paused) {
      free(ep->error);
      ep->error = strdup(ep->config_error);
    }
    stop_all(s, ep, 0);
    report(s, ep);
    return;
  }
  if (ep->waiting && !ep->asleep) { /* start nothing until the model is on disk */
    report(s, ep);
    return;
  }
  unsigned load = ep->queued + ep->inflight;
  if (ep->asleep && load > 0) { /* queued requests wake it (ep_sched_ep_wake re-enters) */
    ep_sched_ep_wake(ep);
    return;
  }
  if (ep->asleep) {
    stop_all(s, ep, 1);
    report(s, ep);
    return;
  }
  int any_ready = 0;
  for (ep_sched_replica *r = ep->replicas; r; r = r->next)
    if (r->phase == EP_R_READY) any_ready = 1;
  if (any_ready && ep_policy_idle_expired(&s->p.policy, ep->min, ep->stz_timeout, load,
                                          ep->last_activity, now)) {
    ep->asleep = 1;
    ep->want_asleep = 1;
    if (s->io.set_asleep) s->io.set_asleep(s->io.ctx, ep->ns, ep->name, 1);
    emit_event(ep, "scale", "idle timeout: scaled to zero");
    stop_all(s, ep, 1);
    report(s, ep);
    return;
  }
  int old_target = ep->target;
  ep->target = ep_policy_autoscale(&s->p.policy, &ep->as, ep->min, ep->max, ep->target, load, now);
  if (old_target && ep->target != old_target) {
    char m[96];
    snprintf(m, sizeof m, "autoscale: %d -> %d replicas (load %u)", old_target, ep->target, load);
    emit_event(ep, "scale", m);
  }
  int n_cur = 0, ready_cur = 0;
  for (ep_sched_replica *r = ep->replicas; r; r = r->next) {
    if (r->revision != ep->revision) continue;
    if (r->phase == EP_R_STARTING || r->phase == EP_R_READY) n_cur++;
    if (r->phase == EP_R_READY) ready_cur++;
  }
  if (!ep->update_failed) {
    while (n_cur < ep->target && now >= ep->restart_at && !ep->failed) {
      start_replica(s, ep, now);
      n_cur++;
    }
    /* too many: stop starting ones first, then idle ready ones */
    for (ep_sched_replica *r = ep->replicas; r && n_cur > ep->target; r = r->next)
      if (r->revision == ep->revision && r->phase == EP_R_STARTING) {
        ep_sched__replica_stop(s, r);
        n_cur--;
      }
    for (ep_sched_replica *r = ep->replicas; r && n_cur > ep->target; r = r->next)
      if (r->revision == ep->revision && r->phase == EP_R_READY) {
        r->phase = EP_R_DRAINING;
        n_cur--;
      }
  }
  /* rolling update: old revision drains once the new one is fully ready */
  int old_stop = ep->update_failed ? 0 : (ready_cur >= ep->target);
  for (ep_sched_replica *r = ep->replicas; r; r = r->next) {
    if (r->revision != ep->revision && old_stop) {
      if (r->phase == EP_R_READY)
        r->phase = EP_R_DRAINING;
      else if (r->phase == EP_R_STARTING)
        ep_sched__replica_stop(s, r);
    }
    if (ep->update_failed && r->revision == ep->revision &&
        (r->phase == EP_R_STARTING || r->phase == EP_R_READY))
      ep_sched__replica_stop(s, r);
  }
  for (ep_sched_replica *r = ep->replicas; r; r = r->next) {
    if (r->phase == EP_R_DRAINING && r->inflight == 0) ep_sched__replica_stop(s, r);
    if (r->phase == EP_R_STARTING) {
      if (now - r->started_ms >= s->p.start_timeout_ms) {
        r->timed_out = 1;
        r->phase = EP_R_STOPPING;
        if (r->sup) ep_sup_replica_stop(r->sup, 0);
      } else {
        probe(r, now);
      }
    } else if (r->phase == EP_R_READY && now - r->last_probe_ms >= s->p.probe_interval_ms) {
      probe(r, now);
    }
  }
  report(s, ep);
}
