/* Observing one endpoint: GET .../logs (events merged with replica log lines
 * by time; tail, since, follow=1 stream), GET .../events (the store's event
 * rows as JSON, for the dashboard timeline) and GET .../metrics (Prometheus
 * text of that endpoint, or a JSON summary). Read access to the namespace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/time.h"
#include "ctl/ctl-impl.h"

#define TS_LEN 24 /* "2026-11-25T12:41:53.263Z" */

/* Auth + namespace read access + the row; answers and returns -1 on failure. */
/* Read access to ns/name (see ep__ctl_load). */
static int load(ep_ctl *c, ep_http_req *r, const ep_route_params *p, ep_endpoint_row *row) {
  ep_principal who;
  return ep__ctl_load(c, r, p, 0, &who, row);
}

/* "tail"/"limit": absent -> dflt; a non-negative integer; else 400. */
static int query_count(ep_http_req *r, const char *key, int dflt, int *out) {
  const char *v = ep_http_req_query(r, key);
  *out = dflt;
  if (!v) return 0;
  char *end;
  long n = strtol(v, &end, 10);
  if (!*v || *end || n < 0 || n > 1000000) {
    ep_http_respond_error(r, 400, "%s must be a non-negative integer", key);
    return -1;
  }
  *out = (int)n;
  return 0;
}

/* "since": an ISO timestamp, or seconds ago (decimal, optional s/m/h
 * suffix). 0 when absent. Answers 400 and returns -1 when malformed. */
static int query_since(ep_http_req *r, int64_t *out) {
  const char *v = ep_http_req_query(r, "since");
  *out = 0;
  if (!v || !*v) return 0;
  if (strchr(v, 'T')) {
    int y, mo, d, h, mi, sec;
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) == 6 && mo >= 1 &&
        mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 61 &&
        ep_time_parse_iso(v, out) == EP_OK)
      return 0;
  } else {
    char *end;
    double secs = strtod(v, &end);
    double unit = !*end               ? 1
                  : !strcmp(end, "s") ? 1
                  : !strcmp(end, "m") ? 60
                  : !strcmp(end, "h") ? 3600
                                      : -1;
    if (end != v && unit > 0 && secs >= 0 && secs < 1e9) {
      *out = ep_wall_ms() - (int64_t)(secs * unit * 1000);
      if (*out <= 0) *out = 1;
      return 0;
    }
  }
  ep_http_respond_error(r, 400,
                        "since must be an ISO timestamp (2026-11-25T12:41:53Z) or seconds ago "
                        "(300, 5m, 1h)");
  return -1;
}

static int query_flag(ep_http_req *r, const char *key) {
  const char *v = ep_http_req_query(r, key);
  return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"));
}

/* ---- logs --------------------------------------------------------------- */

typedef struct {
  ep_buf *out;
  int64_t since;
} ev_ctx;

static int log_cb(void *ctx, const ep_event_row *e) {
  ev_ctx *x = ctx;
  if (x->since && e->ts < x->since) return 0;
  char ts[40];
  ep_time_iso(e->ts, ts, sizeof ts);
  ep_buf_printf(x->out, "%s [%s] %s\n", ts, e->kind ? e->kind : "", e->message ? e->message : "");
  return 0;
}

static int line_ts(const char *s, size_t n) {
  return n >= TS_LEN && s[4] == '-' && s[10] == 'T' && s[TS_LEN - 1] == 'Z';
}

/* Merges two texts whose lines start with ISO timestamps (a line without one
 * keeps the time of the line before it) into out, oldest first; a's lines
 * go first on equal times. */
static void merge(const ep_buf *a, const ep_buf *b, ep_buf *out) {
  size_t i = 0, j = 0;
  const char *ta = "", *tb = "";
  while (i < a->len || j < b->len) {
    const char *la = a->data + i, *lb = b->data + j;
    const char *ea = i < a->len ? memchr(la, '\n', a->len - i) : NULL;
    const char *eb = j < b->len ? memchr(lb, '\n', b->len - j) : NULL;
    size_t na = ea ? (size_t)(ea - la) + 1 : a->len - i;
    size_t nb = eb ? (size_t)(eb - lb) + 1 : b->len - j;
    if (i < a->len && line_ts(la, na)) ta = la;
    if (j < b->len && line_ts(lb, nb)) tb = lb;
    int take_a = j >= b->len || (i < a->len && (!*tb || (*ta && strncmp(ta, tb, TS_LEN) <= 0)));
    if (take_a) {
      ep_buf_append(out, la, na);
      i += na;
    } else {
      ep_buf_append(out, lb, nb);
      j += nb;
    }
  }
}

/* Start of the last `tail` lines of text (0 = all). */
static size_t tail_start(const ep_buf *t, int tail) {
  if (tail <= 0) return 0;
  int lines = 0;
  for (size_t i = t->len; i > 0; i--)
    if (t->data[i - 1] == '\n' && i != t->len && ++lines == tail) return i;
  return 0;
}

void ep__ctl_ep_logs(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_endpoint_row row;
  int tail;
  int64_t since;
  if (load(c, r, p, &row)) return;
  if (query_count(r, "tail", 0, &tail) || query_since(r, &since)) {
    ep_endpoint_row_clear(&row);
    return;
  }
  int follow = query_flag(r, "follow");
  if (follow && !(c->has_hooks && c->hooks.logs_follow)) {
    ep_http_respond_error(r, 501, "following logs needs the serving subsystem");
    ep_endpoint_row_clear(&row);
    return;
  }
  ep_buf ev = EP_BUF_INIT, lines = EP_BUF_INIT, all = EP_BUF_INIT;
  ev_ctx x = {&ev, since};
  int err = ep_store_event_list(c->store, row.id, since ? 0 : tail, log_cb, &x);
  if (!err && c->has_hooks && c->hooks.logs)
    c->hooks.logs(c->hooks.ctx, row.ns, row.name, tail, since, &lines);
  merge(&ev, &lines, &all);
  size_t start = tail_start(&all, tail);
  const char *text = all.data ? all.data + start : "";
  size_t len = all.len - start;
  if (err) {
    ep__ctl_store_error(r, err);
  } else if (follow) {
    ep__ctl_note(r, 200); /* counted now: the stream belongs to the serving hook */
    int st = c->hooks.logs_follow(c->hooks.ctx, r, row.ns, row.name, text, len);
    if (st == 429)
      ep_http_respond_error(r, 429, "too many log followers for endpoint '%s/%s'", row.ns,
                            row.name);
    else if (st)
      ep_http_respond_error(r, st, "cannot follow the logs of '%s/%s' now", row.ns, row.name);
  } else {
    ep_http_respond(r, 200, "text/plain; charset=utf-8", text, len);
  }
  ep_buf_free(&ev);
  ep_buf_free(&lines);
  ep_buf_free(&all);
  ep_endpoint_row_clear(&row);
}

/* ---- events ------------------------------------------------------------- */

typedef struct {
  json_t *items;
  int64_t since;
} evj_ctx;

static int event_json_cb(void *ctx, const ep_event_row *e) {
  evj_ctx *x = ctx;
  if (x->since && e->ts < x->since) return 0;
  json_t *o = json_pack("{s:o,s:s,s:s}", "ts", ep__ctl_iso(e->ts), "kind", e->kind ? e->kind : "",
                        "message", e->message ? e->message : "");
  return o && !json_array_append_new(x->items, o) ? 0 : EP_ENOMEM;
}

void ep__ctl_ep_events(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_endpoint_row row;
  int limit;
  int64_t since;
  if (load(c, r, p, &row)) return;
  if (query_count(r, "limit", 200, &limit) || query_since(r, &since)) {
    ep_endpoint_row_clear(&row);
    return;
  }
  evj_ctx x = {json_array(), since};
  int err = x.items ? ep_store_event_list(c->store, row.id, since ? 0 : limit, event_json_cb, &x)
                    : EP_ENOMEM;
  if (!err && since && limit > 0) /* the newest `limit` of those since */
    while (json_array_size(x.items) > (size_t)limit) json_array_remove(x.items, 0);
  if (err) {
    json_decref(x.items);
    ep__ctl_store_error(r, err);
  } else {
    ep_http_respond_json(r, 200, json_pack("{s:o}", "items", x.items));
  }
  ep_endpoint_row_clear(&row);
}

/* ---- metrics ------------------------------------------------------------ */

static int wants_json(ep_http_req *r) {
  const char *f = ep_http_req_query(r, "format");
  if (f) return !strcmp(f, "json");
  const char *acc = ep_http_req_header(r, "Accept");
  return acc && strstr(acc, "application/json") && !strstr(acc, "text/plain");
}

void ep__ctl_ep_metrics(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_endpoint_row row;
  if (load(c, r, p, &row)) return;
  const char *f = ep_http_req_query(r, "format");
  if (f && strcmp(f, "json") && strcmp(f, "prometheus")) {
    ep_http_respond_error(r, 400, "format must be 'prometheus' or 'json'");
  } else if (wants_json(r)) {
    json_t *j = c->has_hooks && c->hooks.metrics_json
                    ? c->hooks.metrics_json(c->hooks.ctx, row.ns, row.name)
                    : NULL;
    if (!j) j = json_pack("{s:s,s:s}", "namespace", row.ns, "name", row.name);
    ep_http_respond_json(r, 200, j);
  } else {
    ep_buf b = EP_BUF_INIT;
    if (c->has_hooks && c->hooks.metrics) c->hooks.metrics(c->hooks.ctx, row.ns, row.name, &b);
    ep_http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", ep_buf_cstr(&b), b.len);
    ep_buf_free(&b);
  }
  ep_endpoint_row_clear(&row);
}
