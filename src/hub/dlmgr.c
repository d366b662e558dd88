/* Download manager: one ep_hub_resolve() per repo@revision on the libuv
 * thread pool, waiters per endpoint, progress relayed to the loop through a
 * uv_async_t, failures remembered until the endpoint's spec changes. */
#include "hub/dlmgr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "hub/hub.h"

typedef struct waiter {
  char ns[64], name[64];
  struct waiter *next;
} waiter;

typedef struct dl {
  ep_dlmgr *m;
  char repo[256], revision[128], task[64];
  uv_work_t work;
  volatile int cancel;
  int running;           /* worker not returned yet (loop-side flag) */
  int done;              /* ended (rc valid) */
  int rc;
  char dir[4096], err[1024];
  char status[256];      /* latest progress line (under m->mu) */
  ep_buf lines;          /* progress lines not yet relayed (under m->mu) */
  waiter *waiters;
  struct dl *next;
} dl;

struct ep_dlmgr {
  uv_loop_t *loop;
  char home[1024];
  ep_dlmgr_notify notify;
  void *ctx;
  uv_async_t async;
  pthread_mutex_t mu;
  dl *dls;
  int freeing, async_closed;
};

/* A queued notification: copied out first because notify() re-resolves,
 * which may free downloads and waiters. */
typedef struct note {
  char ns[64], name[64];
  char *line;
  struct note *next;
} note;

static note *queue_notes(note *tail_list, dl *d, const char *text) {
  for (waiter *w = d->waiters; w; w = w->next) {
    note *n = calloc(1, sizeof *n);
    if (!n) break;
    snprintf(n->ns, sizeof n->ns, "%s", w->ns);
    snprintf(n->name, sizeof n->name, "%s", w->name);
    n->line = strdup(text);
    n->next = tail_list;
    tail_list = n;
  }
  return tail_list;
}

static void deliver(ep_dlmgr *m, note *list, int ended) {
  while (list) {
    note *n = list;
    list = n->next;
    if (n->line) {
      char *save = NULL;
      for (char *l = strtok_r(n->line, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        m->notify(m->ctx, n->ns, n->name, l, ended);
    }
    free(n->line);
    free(n);
  }
}

static void on_async(uv_async_t *a) {
  ep_dlmgr *m = a->data;
  note *list = NULL;
  for (dl *d = m->dls; d; d = d->next) {
    pthread_mutex_lock(&m->mu);
    char *text = d->lines.len ? ep_buf_steal(&d->lines) : NULL;
    pthread_mutex_unlock(&m->mu);
    if (!text) continue;
    list = queue_notes(list, d, text);
    free(text);
  }
  deliver(m, list, 0);
}

static void on_progress(void *ctx, const char *line) {
  dl *d = ctx;
  pthread_mutex_lock(&d->m->mu);
  snprintf(d->status, sizeof d->status, "%s", line);
  ep_buf_printf(&d->lines, "%s\n", line);
  int freeing = d->m->freeing;
  pthread_mutex_unlock(&d->m->mu);
  if (!freeing && !d->cancel) uv_async_send(&d->m->async);
}

static void work_cb(uv_work_t *w) {
  dl *d = w->data;
  ep_hub_params p = ep_hub_default_params();
  p.home = d->m->home;
  p.task = d->task[0] ? d->task : NULL;
  p.progress = on_progress;
  p.progress_ctx = d;
  p.cancel = &d->cancel;
  d->rc = ep_hub_resolve(&p, d->repo, d->revision[0] ? d->revision : NULL, d->dir, sizeof d->dir,
                         d->err, sizeof d->err);
}

static void dl_free(dl *d) {
  while (d->waiters) {
    waiter *w = d->waiters;
    d->waiters = w->next;
    free(w);
  }
  ep_buf_free(&d->lines);
  free(d);
}

static void unlink_dl(ep_dlmgr *m, dl *d) {
  for (dl **pp = &m->dls; *pp; pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      return;
    }
}

/* Frees the manager once its async handle is closed and no worker runs. */
static void try_free(ep_dlmgr *m) {
  if (!m->async_closed) return;
  for (dl *d = m->dls; d; d = d->next)
    if (d->running) return;
  while (m->dls) {
    dl *d = m->dls;
    m->dls = d->next;
    dl_free(d);
  }
  pthread_mutex_destroy(&m->mu);
  free(m);
}

static void on_async_closed(uv_handle_t *h) {
  ep_dlmgr *m = h->data;
  m->async_closed = 1;
  try_free(m);
}

static void after_cb(uv_work_t *w, int status) {
  dl *d = w->data;
  ep_dlmgr *m = d->m;
  if (status == UV_ECANCELED) d->rc = EP_ECANCELED;
  if (m->freeing) {
    d->running = 0;
    try_free(m);
    return;
  }
  /* flush progress lines first; while `running` is set nothing frees d (a
   * waiter that resolves from disk meanwhile simply leaves) */
  on_async(&m->async);
  d->running = 0;
  d->done = 1;
  if (d->rc == EP_OK)
    ep_log_info("model ready", "repo=%s dir=\"%s\"", d->repo, d->dir);
  else
    ep_log_warn("model download failed", "repo=%s err=\"%s\"", d->repo, d->err);
  if (!d->waiters) { /* nobody needs it any more */
    unlink_dl(m, d);
    dl_free(d);
    return;
  }
  note *list = queue_notes(NULL, d, d->rc == EP_OK ? "model files ready" : d->err);
  deliver(m, list, 1); /* re-resolving may free d */
}

int ep_dlmgr_init(uv_loop_t *loop, const char *home, ep_dlmgr_notify notify, void *ctx,
                  ep_dlmgr **out) {
  ep_dlmgr *m = calloc(1, sizeof *m);
  if (!m) return EP_ENOMEM;
  m->loop = loop;
  snprintf(m->home, sizeof m->home, "%s", home ? home : "");
  m->notify = notify;
  m->ctx = ctx;
  pthread_mutex_init(&m->mu, NULL);
  uv_async_init(loop, &m->async, on_async);
  m->async.data = m;
  *out = m;
  return EP_OK;
}

void ep_dlmgr_free(ep_dlmgr *m) {
  if (!m) return;
  m->freeing = 1;
  for (dl *d = m->dls; d; d = d->next) {
    d->cancel = 1;
    if (d->running) uv_cancel((uv_req_t *)&d->work);
  }
  uv_close((uv_handle_t *)&m->async, on_async_closed);
}

static void add_waiter(dl *d, const char *ns, const char *name) {
  for (waiter *w = d->waiters; w; w = w->next)
    if (!strcmp(w->ns, ns) && !strcmp(w->name, name)) return;
  waiter *w = calloc(1, sizeof *w);
  if (!w) return;
  snprintf(w->ns, sizeof w->ns, "%s", ns);
  snprintf(w->name, sizeof w->name, "%s", name);
  w->next = d->waiters;
  d->waiters = w;
}

static int remove_waiter(dl *d, const char *ns, const char *name) {
  for (waiter **pp = &d->waiters; *pp; pp = &(*pp)->next)
    if (!strcmp((*pp)->ns, ns) && !strcmp((*pp)->name, name)) {
      waiter *w = *pp;
      *pp = w->next;
      free(w);
      return 1;
    }
  return 0;
}

void ep_dlmgr_forget(ep_dlmgr *m, const char *ns, const char *name) {
  for (dl *d = m->dls, *next; d; d = next) {
    next = d->next;
    if (!remove_waiter(d, ns, name) || d->waiters) continue;
    if (d->running) {
      d->cancel = 1; /* the worker stops between chunks; after_cb frees it */
    } else {
      unlink_dl(m, d);
      dl_free(d);
    }
  }
}

int ep_dlmgr_resolve(ep_dlmgr *m, const char *ns, const char *name, const char *repo,
                     const char *revision, const char *task, int allow_download, char *dir,
                     size_t dirsz, char *msg, size_t msgsz) {
  ep_hub_params p = ep_hub_default_params();
  p.home = m->home;
  msg[0] = '\0';
  int rc = ep_hub_resolve_local(&p, repo, revision, dir, dirsz);
  if (rc == EP_OK) {
    ep_dlmgr_forget(m, ns, name);
    return EP_OK;
  }
  if (rc == EP_EINVAL) {
    snprintf(msg, msgsz, "repository '%s' is neither a local folder nor a valid Hub id", repo);
    return EP_EINVAL;
  }
  if (!allow_download) {
    snprintf(msg, msgsz, "model '%s' is not on this machine", repo);
    return EP_ENOTFOUND;
  }
  const char *rev = revision ? revision : "";
  dl *d = m->dls;
  for (; d; d = d->next)
    if (!strcmp(d->repo, repo) && !strcmp(d->revision, rev)) break;
  /* an endpoint moved to another model stops waiting for its old one */
  for (dl *o = m->dls, *next; o; o = next) {
    next = o->next;
    if (o != d && remove_waiter(o, ns, name) && !o->waiters) {
      if (o->running) o->cancel = 1;
      else {
        unlink_dl(m, o);
        dl_free(o);
      }
    }
  }
  if (d && d->done) {
    if (d->rc == EP_OK) { /* finished but the files vanished since: try again */
      unlink_dl(m, d);
      dl_free(d);
      d = NULL;
    } else { /* report the failure; the next resolve (update, resume) tries again */
      snprintf(msg, msgsz, "%s", d->err);
      int frc = d->rc;
      remove_waiter(d, ns, name);
      if (!d->waiters) {
        unlink_dl(m, d);
        dl_free(d);
      }
      return frc;
    }
  }
  if (!d) {
    d = calloc(1, sizeof *d);
    if (!d) return EP_ENOMEM;
    d->m = m;
    snprintf(d->repo, sizeof d->repo, "%s", repo);
    snprintf(d->revision, sizeof d->revision, "%s", rev);
    snprintf(d->task, sizeof d->task, "%s", task ? task : "");
    snprintf(d->status, sizeof d->status, "downloading %s from the Hugging Face Hub", repo);
    d->work.data = d;
    d->next = m->dls;
    m->dls = d;
    if (uv_queue_work(m->loop, &d->work, work_cb, after_cb) != 0) {
      unlink_dl(m, d);
      dl_free(d);
      snprintf(msg, msgsz, "could not start the download of %s", repo);
      return EP_EIO;
    }
    d->running = 1;
  }
  add_waiter(d, ns, name);
  pthread_mutex_lock(&m->mu);
  snprintf(msg, msgsz, "%s", d->status);
  pthread_mutex_unlock(&m->mu);
  return EP_EBUSY;
}
