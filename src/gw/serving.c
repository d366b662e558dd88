/* Serving wiring (serving.h): the ctl hooks (changed, gateway, metrics,
 * logs) and the reconciler's io vtable (status, events, sleep flag, log
 * paths) implemented over the store. A small cache of endpoint types lets
 * the gateway authenticate without a database read per public request. */
#include "gw/serving.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "gw/gw.h"
#include "gw/logs.h"
#include "sup/pool.h"
#include "hub/dlmgr.h"

typedef struct tcache {
  char ns[64], name[64], type[16];
  struct tcache *next;
} tcache;

struct ep_serving {
  uv_loop_t *loop;
  ep_serving_params p;
  char home[1024], exe[1024];
  ep_sup *sup;
  ep_sched *sched;
  ep_gw *gw;
  tcache *types;
  ep_dlmgr *dl; /* model downloads for Hub repository ids */
  ep_logs *logs; /* log followers */
  char logbuf[2048];
};

static int env_int(const char *k, int dflt) {
  const char *v = getenv(k);
  return v && *v ? atoi(v) : dflt;
}

static int64_t row_id(ep_serving *s, const char *ns, const char *name) {
  ep_endpoint_row row;
  if (ep_store_endpoint_get(s->p.store, ns, name, &row)) return -1;
  int64_t id = row.id;
  ep_endpoint_row_clear(&row);
  return id;
}

/* ---- reconciler io ------------------------------------------------------ */

static void io_status(void *ctx, const char *ns, const char *name, const ep_sched_status *st) {
  ep_serving *s = ctx;
  int64_t id = row_id(s, ns, name);
  if (id < 0) return;
  ep_endpoint_status es = {st->state, st->message,       st->error_message,
                           NULL,      st->ready_replica, st->target_replica};
  int rc = ep_store_endpoint_set_status(s->p.store, id, &es, ep_wall_ms());
  if (rc) ep_log_warn("status write failed", "endpoint=%s/%s err=%s", ns, name, ep_strerror(rc));
}

static void io_event(void *ctx, const char *ns, const char *name, const char *kind,
                     const char *msg) {
  ep_serving *s = ctx;
  int64_t id = row_id(s, ns, name);
  if (id >= 0) ep_store_event_append(s->p.store, id, ep_wall_ms(), kind, msg);
}

static void io_asleep(void *ctx, const char *ns, const char *name, int asleep) {
  ep_serving *s = ctx;
  ep_endpoint_row row;
  if (ep_store_endpoint_get(s->p.store, ns, name, &row)) return;
  if (row.scale_to_zero != asleep) {
    row.scale_to_zero = asleep;
    ep_store_endpoint_update(s->p.store, &row, 0, NULL, NULL);
  }
  ep_endpoint_row_clear(&row);
}

static void io_capacity(void *ctx, ep_sched_ep *ep) {
  ep_serving *s = ctx;
  ep_gw_capacity(s->gw, ep);
}

static void mkdirs(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(tmp, 0700);
      *p = '/';
    }
  mkdir(tmp, 0700);
}

static const char *log_path(ep_serving *s, const char *ns, const char *name) {
  char dir[1200];
  snprintf(dir, sizeof dir, "%s/logs/%s", s->home, ns);
  mkdirs(dir);
  snprintf(s->logbuf, sizeof s->logbuf, "%s/%s.log", dir, name);
  return s->logbuf;
}

static const char *io_log_path(void *ctx, const char *ns, const char *name) {
  return log_path(ctx, ns, name);
}

/* ---- desired state ------------------------------------------------------ */

static void cache_type(ep_serving *s, const char *ns, const char *name, const char *type) {
  tcache **pp = &s->types;
  for (; *pp; pp = &(*pp)->next)
    if (!strcmp((*pp)->ns, ns) && !strcmp((*pp)->name, name)) break;
  if (!type) {
    if (*pp) {
      tcache *t = *pp;
      *pp = t->next;
      free(t);
    }
    return;
  }
  tcache *t = *pp;
  if (!t) {
    t = calloc(1, sizeof *t);
    if (!t) return;
    snprintf(t->ns, sizeof t->ns, "%s", ns);
    snprintf(t->name, sizeof t->name, "%s", name);
    *pp = t;
  }
  snprintf(t->type, sizeof t->type, "%s", type);
}

/* Resolves model.repository when it is not a folder path: model store, HF
 * cache, else a download (huggingface images only; paused endpoints wait). */
static void resolve_model(ep_serving *s, const ep_endpoint_row *row, json_t *spec,
                          ep_serving_model *m, char *dir, size_t dirsz, char *msg, size_t msgsz) {
  memset(m, 0, sizeof *m);
  json_t *model = json_object_get(spec, "model");
  const char *repo = json_string_value(json_object_get(model, "repository"));
  const char *rev = json_string_value(json_object_get(model, "revision"));
  const char *task = json_string_value(json_object_get(model, "task"));
  json_t *custom = json_object_get(json_object_get(model, "image"), "custom");
  struct stat sb;
  if (!repo || !*repo || (stat(repo, &sb) == 0 && S_ISDIR(sb.st_mode))) {
    ep_dlmgr_forget(s->dl, row->ns, row->name);
    return;
  }
  int hf_image = !json_is_object(custom);
  int rc = ep_dlmgr_resolve(s->dl, row->ns, row->name, repo, rev, task, hf_image && !row->paused,
                            dir, dirsz, msg, msgsz);
  if (rc == EP_OK) m->dir = dir;
  else if (rc == EP_EBUSY) m->waiting = msg;
  else if (hf_image && !(row->paused && rc == EP_ENOTFOUND)) m->error = msg;
}

static void apply_row(ep_serving *s, const ep_endpoint_row *row) {
  json_error_t je;
  json_t *spec = row->spec ? json_loads(row->spec, 0, &je) : NULL;
  if (!spec) spec = json_object(); /* unreadable spec: the defaults fail it clearly */
  ep_serving_model m;
  char dir[4096], msg[1024];
  resolve_model(s, row, spec, &m, dir, sizeof dir, msg, sizeof msg);
  ep_serving_spec ss;
  ep_serving_spec_build(row, spec, s->exe, s->p.ncores, &m, &ss);
  ep_serving_spec_place(&ss, spec, s->p.pools);
  ep_sched_apply(s->sched, row->ns, row->name, &ss.spec);
  ep_serving_spec_clear(&ss);
  json_decref(spec);
  cache_type(s, row->ns, row->name, row->type);
}

static void hook_changed(void *ctx, const char *ns, const char *name) {
  ep_serving *s = ctx;
  ep_endpoint_row row;
  int rc = ep_store_endpoint_get(s->p.store, ns, name, &row);
  if (rc == EP_ENOTFOUND) {
    ep_dlmgr_forget(s->dl, ns, name);
    ep_sched_apply(s->sched, ns, name, NULL);
    cache_type(s, ns, name, NULL);
    char key[160];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    ep_logs_end(s->logs, key); /* follow streams of a deleted endpoint end */
    return;
  }
  if (rc) return;
  apply_row(s, &row);
  ep_endpoint_row_clear(&row);
}

static void hook_gateway(void *ctx, ep_http_req *req, const char *ns, const char *name,
                         const char *subpath) {
  ep_serving *s = ctx;
  const char *type = NULL;
  for (tcache *t = s->types; t; t = t->next)
    if (!strcmp(t->ns, ns) && !strcmp(t->name, name)) type = t->type;
  if (!type) {
    ep_http_respond_error(req, 404, "Endpoint %s/%s not found", ns, name);
    return;
  }
  /* public: no token lookup and no clock read on the hot path */
  int acc = !strcmp(type, "public") ? 0
                                    : ep_auth_endpoint_access(s->p.auth, type, ns,
                                                              ep_http_req_bearer(req), ep_wall_ms());
  if (acc == 401 || acc == 403) {
    ep_gw_count(s->gw, ns, name, acc, 0); /* before answering: ns/name live in req's arena */
    ep_http_respond_error(req, acc, "%s",
                          acc == 401 ? "Unauthorized: a valid token is required for this endpoint"
                                     : "Forbidden: this token has no access to this endpoint");
    return;
  }
  if (acc) {
    ep_http_respond_error(req, 500, "Internal Server Error: access check failed");
    return;
  }
  ep_gw_handle(s->gw, req, ns, name, subpath);
}

static void hook_metrics(void *ctx, const char *ns, const char *name, ep_buf *out) {
  ep_gw_metrics_for(((ep_serving *)ctx)->gw, ns, name, out);
}

static json_t *hook_metrics_json(void *ctx, const char *ns, const char *name) {
  return ep_gw_metrics_json(((ep_serving *)ctx)->gw, ns, name);
}

static void hook_logs(void *ctx, const char *ns, const char *name, int tail, int64_t since_ms,
                      ep_buf *out) {
  ep_serving *s = ctx;
  char path[2048];
  snprintf(path, sizeof path, "%s", log_path(s, ns, name));
  ep_logs_read(path, tail, since_ms, out);
}

static int hook_logs_follow(void *ctx, ep_http_req *req, const char *ns, const char *name,
                            const char *first, size_t len) {
  ep_serving *s = ctx;
  char path[2048], key[160];
  snprintf(path, sizeof path, "%s", log_path(s, ns, name));
  snprintf(key, sizeof key, "%s/%s", ns, name);
  return ep_logs_follow(s->logs, req, key, path, first, len);
}

ep_serving_hooks ep_serving_hooks_for(ep_serving *s) {
  ep_serving_hooks h = {hook_changed,      hook_gateway, hook_metrics,
                        hook_metrics_json, hook_logs,    hook_logs_follow,
                        s};
  return h;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void dl_notify(void *ctx, const char *ns, const char *name, const char *line, int ended);

int ep_serving_init(uv_loop_t *loop, const ep_serving_params *p, ep_serving **out) {
  if (!p || !p->store || !p->auth) return EP_EINVAL;
  ep_serving *s = calloc(1, sizeof *s);
  if (!s) return EP_ENOMEM;
  s->loop = loop;
  s->p = *p;
  snprintf(s->home, sizeof s->home, "%s", p->home ? p->home : "var");
  snprintf(s->exe, sizeof s->exe, "%s", p->self_exe ? p->self_exe : "endpointd");
  ep_sup_params sp = ep_sup_default_params();
  sp.stop_grace_ms = (unsigned)env_int("ENDPOINTD_STOP_GRACE_MS", 5000);
  char home_abs[4096];
  sp.instance_id = realpath(s->home, home_abs) ? home_abs : s->home; /* marks our Slurm jobs */
  char run_dir[4200];
  snprintf(run_dir, sizeof run_dir, "%s/run", sp.instance_id); /* replicas' Unix sockets */
  sp.run_dir = run_dir;
  ep_sched_params kp = ep_sched_default_params();
  kp.policy.idle_unit_ms = (unsigned)env_int("ENDPOINTD_SCALE_TO_ZERO_UNIT_MS", 60000);
  kp.policy.down_window_ms = (unsigned)env_int("ENDPOINTD_SCALE_DOWN_WINDOW_MS", 10000);
  kp.policy.per_replica = env_int("ENDPOINTD_AUTOSCALE_PER_REPLICA", 4);
  kp.start_timeout_ms = (unsigned)env_int("ENDPOINTD_REPLICA_START_TIMEOUT_MS", 600000);
  kp.replica_concurrency = env_int("ENDPOINTD_REPLICA_CONCURRENCY", 16);
  kp.stop_grace_ms = sp.stop_grace_ms;
  ep_gw_params gp = ep_gw_default_params();
  gp.default_hold_ms = (unsigned)env_int("ENDPOINTD_HOLD_MS", 120000);
  gp.queue_max = (unsigned)env_int("ENDPOINTD_QUEUE_MAX", 256);
  ep_sched_io io = {io_status, io_event, io_asleep, io_capacity, io_log_path, s};
  int rc = ep_sup_init(loop, &sp, &s->sup);
  if (!rc) rc = ep_dlmgr_init(loop, s->home, dl_notify, s, &s->dl);
  if (!rc)
    rc = ep_logs_init(loop, (unsigned)env_int("ENDPOINTD_LOG_FOLLOW_POLL_MS", 200),
                      env_int("ENDPOINTD_LOG_FOLLOWERS_MAX", 8), &s->logs);
  if (!rc) rc = ep_sched_init(loop, s->sup, &kp, &io, &s->sched);
  if (!rc) rc = ep_gw_init(loop, s->sched, &gp, &s->gw);
  if (rc) {
    ep_serving_free(s);
    return rc;
  }
  *out = s;
  return EP_OK;
}

/* Download progress: a line for the endpoint's log, and a fresh status
 * message (or, when the download ended, the model folder) via re-apply. */
static void dl_notify(void *ctx, const char *ns, const char *name, const char *line, int ended) {
  ep_serving *s = ctx;
  (void)ended; /* progress re-applies for a fresh message; the end for the folder/error */
  if (line) {
    char text[1200], ts[40];
    ep_time_iso(ep_wall_ms(), ts, sizeof ts);
    int n = snprintf(text, sizeof text, "%s [hub] %s\n", ts, line);
    ep_sup_log_append(log_path(s, ns, name), text, (size_t)n, 4u << 20);
  }
  hook_changed(s, ns, name);
}

static int load_cb(void *ctx, const ep_endpoint_row *r) {
  apply_row(ctx, r);
  return 0;
}

static int container_cb(void *ctx, const ep_endpoint_row *r) {
  (void)ctx;
  return r->spec && strstr(r->spec, "\"custom\"") && !strstr(r->spec, "\"cmd:") ? 1 : 0;
}

int ep_serving_start(ep_serving *s) {
  /* containers of a daemon that was killed outlive it: remove them first */
  if (ep_store_endpoint_list(s->p.store, NULL, container_cb, s) == 1) {
    int n = ep_sup_container_cleanup(s->sup);
    if (n > 0) ep_log_info("removed leftover containers", "count=%d", n);
  }
  int slurm = 0;
  for (size_t i = 0; s->p.pools && i < s->p.pools->n; i++)
    slurm |= s->p.pools->pools[i].kind == EP_POOL_SLURM;
  if (slurm) ep_sup_slurm_scan(s->sup); /* jobs that outlived a killed daemon */
  int rc = ep_store_endpoint_list(s->p.store, NULL, load_cb, s);
  if (slurm) { /* first pass re-adopts; what nobody re-adopted is cancelled */
    ep_sched_tick(s->sched);
    int n = ep_sup_slurm_cancel_unclaimed(s->sup);
    if (n > 0) ep_log_info("cancelled stale slurm jobs", "count=%d", n);
  }
  ep_sched_start(s->sched);
  return rc;
}

void ep_serving_drain(ep_serving *s) {
  if (s && s->gw) ep_gw_drain(s->gw);
  if (s) ep_logs_end(s->logs, NULL); /* follow streams end: the server can shut down */
}

void ep_serving_free(ep_serving *s) {
  if (!s) return;
  if (s->gw) ep_gw_free(s->gw);
  if (s->sched) ep_sched_free(s->sched);
  if (s->sup) ep_sup_free(s->sup);
  ep_dlmgr_free(s->dl);
  ep_logs_free(s->logs);
  while (s->types) {
    tcache *t = s->types;
    s->types = t->next;
    free(t);
  }
  free(s);
}
