/* Reconciler tick driver (see sched.h). Each tick walks every endpoint:
 * desired (paused, asleep, revision, min/max) vs actual replicas; starts,
 * probes, drains and stops replicas through the supervisor; counts crashes
 * before ready (backoff, then failed with the last log lines); performs
 * rolling updates (new revision healthy before old ones drain); reports the
 * status when it changed. Endpoint/replica lists are short linked lists. */
#include "sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "sched/sched-impl.h"

ep_sched_params ep_sched_default_params(void) {
  ep_sched_params p;
  p.policy = ep_policy_default();
  p.tick_ms = 100;
  p.start_timeout_ms = 600000;
  p.probe_interval_ms = 2000;
  p.stop_grace_ms = 5000;
  p.replica_concurrency = 16;
  return p;
}

static void on_tick(uv_timer_t *t) { ep_sched_tick(t->data); }

void ep_sched__tick_soon(ep_sched *s, unsigned ms) {
  if (!uv_is_active((uv_handle_t *)s->fast)) uv_timer_start(s->fast, on_tick, ms, 0);
}

int ep_sched_init(uv_loop_t *loop, ep_sup *sup, const ep_sched_params *p, const ep_sched_io *io,
                  ep_sched **out) {
  if (!loop || !sup) return EP_EINVAL;
  ep_sched *s = calloc(1, sizeof *s);
  if (!s) return EP_ENOMEM;
  s->loop = loop;
  s->sup = sup;
  s->p = p ? *p : ep_sched_default_params();
  if (io) s->io = *io;
  s->timer = calloc(1, sizeof *s->timer);
  if (!s->timer) {
    free(s);
    return EP_ENOMEM;
  }
  s->fast = calloc(1, sizeof *s->fast);
  if (!s->fast) {
    free(s->timer);
    free(s);
    return EP_ENOMEM;
  }
  uv_timer_init(loop, s->timer);
  uv_timer_init(loop, s->fast);
  s->timer->data = s->fast->data = s;
  *out = s;
  return EP_OK;
}

void ep_sched_start(ep_sched *s) {
  uv_timer_start(s->timer, on_tick, s->p.tick_ms, s->p.tick_ms ? s->p.tick_ms : 100);
}

static void strv_free(char **v) {
  for (size_t i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}

static char **strv_dup(const char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  char **o = calloc(n + 1, sizeof *o);
  if (!o) return NULL;
  for (size_t i = 0; i < n; i++) o[i] = strdup(v[i]);
  return o;
}

static char *sdup(const char *s) { return s ? strdup(s) : NULL; }

static void ep_free(ep_sched_ep *ep) {
  strv_free(ep->argv);
  strv_free(ep->env);
  free(ep->image);
  free(ep->mount_dir);
  free(ep->health);
  free(ep->config_error);
  free(ep->waiting);
  free(ep->error);
  free(ep->st_msg);
  free(ep->st_err);
  free(ep);
}

void ep_sched_free(ep_sched *s) {
  if (!s) return;
  uv_timer_stop(s->timer);
  uv_close((uv_handle_t *)s->timer, (uv_close_cb)free);
  uv_timer_stop(s->fast);
  uv_close((uv_handle_t *)s->fast, (uv_close_cb)free);
  while (s->eps) {
    ep_sched_ep *ep = s->eps;
    s->eps = ep->next;
    while (ep->replicas) {
      ep_sched_replica *r = ep->replicas;
      ep->replicas = r->next;
      free(r);
    }
    ep_free(ep);
  }
  free(s);
}

/* ---- lookup ------------------------------------------------------------ */

ep_sched_ep *ep_sched_find(ep_sched *s, const char *ns, const char *name) {
  for (ep_sched_ep *ep = s->eps; ep; ep = ep->next)
    if (!ep->deleted && !strcmp(ep->ns, ns) && !strcmp(ep->name, name)) return ep;
  return NULL;
}

static void set_spec(ep_sched_ep *ep, const ep_sched_spec *sp) {
  strv_free(ep->argv);
  strv_free(ep->env);
  free(ep->image);
  free(ep->mount_dir);
  free(ep->health);
  free(ep->config_error);
  free(ep->waiting);
  ep->revision = sp->revision;
  ep->min = sp->min_replica < 0 ? 0 : sp->min_replica;
  ep->max = sp->max_replica < 1 ? 1 : sp->max_replica;
  if (ep->min > ep->max) ep->min = ep->max;
  ep->stz_timeout = sp->scale_to_zero_timeout;
  ep->backend = sp->backend;
  ep->argv = strv_dup(sp->argv);
  ep->env = strv_dup(sp->env);
  ep->image = sdup(sp->image);
  ep->mount_dir = sdup(sp->mount_dir);
  ep->health = strdup(sp->health_route && *sp->health_route ? sp->health_route : "/health");
  ep->config_error = sdup(sp->config_error);
  ep->waiting = sdup(sp->waiting);
  ep->pool = sp->pool;
  snprintf(ep->instance_size, sizeof ep->instance_size, "%s",
           sp->instance_size ? sp->instance_size : "");
}

static void clear_failure(ep_sched_ep *ep) {
  ep->failed = 0;
  ep->update_failed = 0;
  ep->crashes = 0;
  ep->restart_at = 0;
  free(ep->error);
  ep->error = NULL;
}

int ep_sched_apply(ep_sched *s, const char *ns, const char *name, const ep_sched_spec *sp) {
  ep_sched_ep *ep = ep_sched_find(s, ns, name);
  uint64_t now = ep_mono_ms();
  if (!sp) {
    if (ep) {
      ep->deleted = 1;
      ep_sched__tick_ep(s, ep, now);
    }
    return EP_OK;
  }
  if (!ep) {
    ep = calloc(1, sizeof *ep);
    if (!ep) return EP_ENOMEM;
    ep->s = s;
    snprintf(ep->ns, sizeof ep->ns, "%s", ns);
    snprintf(ep->name, sizeof ep->name, "%s", name);
    ep->last_activity = now;
    ep->paused = sp->paused;
    ep->asleep = sp->scale_to_zero && !sp->paused;
    ep->want_asleep = sp->scale_to_zero;
    set_spec(ep, sp);
    ep->serving_revision = sp->revision;
    ep->next = s->eps;
    s->eps = ep;
  } else {
    int rev_changed = sp->revision != ep->revision;
    int resumed = ep->paused && !sp->paused;
    if (rev_changed || resumed || ep->failed || ep->update_failed) clear_failure(ep);
    /* a model that was downloading (or now is) changes the command without a new revision */
    if (rev_changed || ep->waiting || sp->waiting) set_spec(ep, sp);
    ep->paused = sp->paused;
    if (sp->scale_to_zero != ep->want_asleep) ep->asleep = sp->scale_to_zero;
    if (resumed) {
      ep->asleep = sp->scale_to_zero;
      ep->last_activity = now;
    }
    ep->want_asleep = sp->scale_to_zero;
    if (ep->asleep) ep->wake_started = 0;
    if (!ep->replicas) ep->serving_revision = ep->revision;
  }
  ep_sched__tick_ep(s, ep, now);
  return EP_OK;
}

const char *ep_sched_ep_state(const ep_sched_ep *ep) {
  return ep->state[0] ? ep->state : "pending";
}
int ep_sched_ep_paused(const ep_sched_ep *ep) { return ep->paused; }
int ep_sched_ep_failed(const ep_sched_ep *ep) {
  return !ep->paused && (ep->failed || ep->config_error != NULL);
}
const char *ep_sched_ep_error(const ep_sched_ep *ep) {
  return ep->error ? ep->error : ep->config_error;
}
int ep_sched_ep_waking(const ep_sched_ep *ep) { return ep->asleep || ep->wake_started != 0; }
void ep_sched_ep_name(const ep_sched_ep *ep, const char **ns, const char **name) {
  *ns = ep->ns;
  *name = ep->name;
}

ep_sched_replica *ep_sched_pick(ep_sched_ep *ep) { return ep_sched_pick_except(ep, NULL); }

ep_sched_replica *ep_sched_pick_except(ep_sched_ep *ep, const ep_sched_replica *except) {
  ep_sched_replica *best = NULL;
  unsigned cap = (unsigned)(ep->s->p.replica_concurrency > 0 ? ep->s->p.replica_concurrency : 1);
  for (ep_sched_replica *r = ep->replicas; r; r = r->next) {
    if (r == except || r->phase != EP_R_READY || r->inflight >= cap) continue;
    if (!best || r->inflight < best->inflight) best = r;
  }
  return best;
}

void ep_sched_replica_acquire(ep_sched_replica *r) {
  r->inflight++;
  r->ep->inflight++;
  r->ep->last_activity = ep_mono_ms();
}

void ep_sched_replica_release(ep_sched_replica *r) {
  ep_sched_ep *ep = r->ep;
  if (r->inflight) r->inflight--;
  if (ep->inflight) ep->inflight--;
  ep->last_activity = ep_mono_ms();
  if (r->phase == EP_R_EXITED && r->inflight == 0)
    ep_sched__replica_unlink(ep, r);
  else if (r->phase == EP_R_DRAINING && r->inflight == 0)
    ep_sched__replica_stop(ep->s, r);
  if (ep->s->io.capacity && !ep->deleted) ep->s->io.capacity(ep->s->io.ctx, ep);
}

int ep_sched_replica_port(const ep_sched_replica *r) { return r->port; }
const char *ep_sched_replica_host(const ep_sched_replica *r) {
  return r->host[0] ? r->host : "127.0.0.1";
}

void ep_sched_ep_set_queued(ep_sched_ep *ep, unsigned n) {
  ep->queued = n;
  if (n) ep_sched_ep_wake(ep);
}

void ep_sched_ep_touch(ep_sched_ep *ep) {
  ep->last_activity = ep_mono_ms();
  ep_sched_ep_wake(ep);
}

void ep_sched_ep_wake(ep_sched_ep *ep) {
  if (!ep->asleep || ep->paused || ep->failed || ep->deleted) return;
  uint64_t now = ep_mono_ms();
  ep->asleep = 0;
  ep->want_asleep = 0;
  ep->wake_started = now;
  ep->last_activity = now;
  ep_sched_io *io = &ep->s->io;
  if (io->set_asleep) io->set_asleep(io->ctx, ep->ns, ep->name, 0);
  if (io->event)
    io->event(io->ctx, ep->ns, ep->name, "wake", "request received: scaling up from zero");
  ep_sched__tick_ep(ep->s, ep, now);
}

void ep_sched_foreach(ep_sched *s, void (*cb)(void *ctx, const ep_sched_ep_stats *st), void *ctx) {
  for (ep_sched_ep *ep = s->eps; ep; ep = ep->next) {
    if (ep->deleted) continue;
    ep_sched_ep_stats st = {ep->ns,       ep->name,  ep_sched_ep_state(ep), 0,
                            ep->target,   0,         ep->inflight,          ep->queued,
                            ep->restarts, ep->wakes, ep->wake_sum};
    for (ep_sched_replica *r = ep->replicas; r; r = r->next) {
      if (r->phase == EP_R_READY) st.ready++;
      if (r->phase == EP_R_STARTING) st.starting++;
    }
    if (ep->asleep || ep->paused || ep->failed) st.target = 0;
    cb(ctx, &st);
  }
}

void ep_sched_tick(ep_sched *s) {
  uint64_t now = ep_mono_ms();
  ep_sup_reap(s->sup);
  for (ep_sched_ep **pp = &s->eps; *pp;) {
    ep_sched_ep *ep = *pp;
    ep_sched__tick_ep(s, ep, now);
    if (ep->deleted && !ep->replicas) {
      *pp = ep->next;
      ep_free(ep);
      continue;
    }
    pp = &ep->next;
  }
}
