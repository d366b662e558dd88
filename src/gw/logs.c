/* Replica log files for GET .../logs (logs.h): tail/since reads over both
 * rotated files, and follow streams fed by one polling timer. A follower
 * keeps the file open, so lines written just before a rotation are read
 * from the old file before it switches to the new one. */
#include "gw/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/time.h"

#define TS_LEN 24                    /* "2026-11-25T12:41:53.263Z" */
#define FOLLOW_QUEUE_MAX (1u << 20)  /* unsent bytes before a follower pauses reading */
#define FOLLOW_READ_MAX (256u << 10) /* bytes read per follower per tick */

int ep_logs_line_ts(const char *line, size_t n, char *ts) {
  static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (n < TS_LEN) return 0;
  for (int i = 0; i < TS_LEN; i++) {
    if (pat[i] == 'd' ? (line[i] < '0' || line[i] > '9') : line[i] != pat[i]) return 0;
  }
  if (ts) {
    memcpy(ts, line, TS_LEN);
    ts[TS_LEN] = 0;
  }
  return 1;
}

static void slurp(const char *path, ep_buf *all) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char buf[16384];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) ep_buf_append(all, buf, n);
  fclose(f);
  if (all->len && all->data[all->len - 1] != '\n') ep_buf_puts(all, "\n");
}

void ep_logs_read(const char *path, int tail, int64_t since_ms, ep_buf *out) {
  char old[4200], since[40] = "";
  snprintf(old, sizeof old, "%s.1", path);
  ep_buf all = EP_BUF_INIT, kept = EP_BUF_INIT;
  slurp(old, &all);
  slurp(path, &all);
  if (since_ms > 0) ep_time_iso(since_ms, since, sizeof since);
  int keep = since_ms <= 0;
  for (size_t i = 0; i < all.len;) {
    const char *nl = memchr(all.data + i, '\n', all.len - i);
    size_t n = (size_t)(nl - (all.data + i)) + 1;
    if (since_ms > 0 && ep_logs_line_ts(all.data + i, n, NULL))
      keep = strncmp(all.data + i, since, TS_LEN) >= 0;
    if (keep) ep_buf_append(&kept, all.data + i, n);
    i += n;
  }
  ep_buf_free(&all);
  size_t start = 0;
  if (tail > 0) {
    int lines = 0;
    for (size_t i = kept.len; i > 0; i--)
      if (kept.data[i - 1] == '\n' && i != kept.len && ++lines == tail) {
        start = i;
        break;
      }
  }
  if (kept.len > start) ep_buf_append(out, kept.data + start, kept.len - start);
  ep_buf_free(&kept);
}

/* ---- followers ---------------------------------------------------------- */

typedef struct follower {
  ep_logs *l;
  ep_http_req *req;
  char key[160], path[2048];
  int fd;
  dev_t dev;
  ino_t ino;
  struct follower *next;
} follower;

struct ep_logs {
  uv_loop_t *loop;
  uv_timer_t *timer;
  unsigned poll_ms;
  int max_per_key;
  int closed; /* after ep_logs_end(NULL): the daemon is stopping */
  follower *list;
};

static void timer_closed(uv_handle_t *h) { free(h); }

int ep_logs_init(uv_loop_t *loop, unsigned poll_ms, int max_per_key, ep_logs **out) {
  ep_logs *l = calloc(1, sizeof *l);
  uv_timer_t *t = malloc(sizeof *t);
  if (!l || !t) {
    free(l);
    free(t);
    return EP_ENOMEM;
  }
  uv_timer_init(loop, t);
  t->data = l;
  l->loop = loop;
  l->timer = t;
  l->poll_ms = poll_ms ? poll_ms : 200;
  l->max_per_key = max_per_key > 0 ? max_per_key : 8;
  *out = l;
  return EP_OK;
}

int ep_logs_count(const ep_logs *l, const char *key) {
  int n = 0;
  for (const follower *f = l ? l->list : NULL; f; f = f->next) n += !key || !strcmp(f->key, key);
  return n;
}

static void open_log(follower *f, int at_end) {
  f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) return;
  struct stat st;
  if (fstat(f->fd, &st) == 0) {
    f->dev = st.st_dev;
    f->ino = st.st_ino;
  }
  if (at_end) lseek(f->fd, 0, SEEK_END);
}

/* Sends what was appended since the last call; follows a rotation. */
static void pump(follower *f) {
  if (ep_http_req_write_queue(f->req) > FOLLOW_QUEUE_MAX) return; /* slow client: wait */
  for (int round = 0; round < 2; round++) {
    if (f->fd < 0) open_log(f, 0); /* created (or re-created) since: from its start */
    if (f->fd < 0) return;
    char buf[16384];
    size_t total = 0;
    ssize_t n;
    while (total < FOLLOW_READ_MAX && (n = read(f->fd, buf, sizeof buf)) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      ep_http_stream_write(f->req, buf, (size_t)n);
      total += (size_t)n;
    }
    if (total >= FOLLOW_READ_MAX) return; /* more next tick */
    struct stat st;
    if (stat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino) return;
    close(f->fd); /* rotated away (old file fully read): switch to the new one */
    f->fd = -1;
  }
}

static void unlink_follower(ep_logs *l, follower *f) {
  for (follower **pp = &l->list; *pp; pp = &(*pp)->next)
    if (*pp == f) {
      *pp = f->next;
      break;
    }
  if (!l->list) uv_timer_stop(l->timer);
}

static void drop(follower *f, int flush) {
  unlink_follower(f->l, f);
  if (flush) pump(f);
  if (f->fd >= 0) close(f->fd);
  ep_http_req_on_abort(f->req, NULL, NULL);
  ep_http_stream_end(f->req); /* frees the request */
  free(f);
}

static void on_abort(ep_http_req *req, void *data) {
  (void)req;
  drop(data, 0);
}

static void on_tick(uv_timer_t *t) {
  ep_logs *l = t->data;
  for (follower *f = l->list; f; f = f->next) pump(f);
}

int ep_logs_follow(ep_logs *l, ep_http_req *req, const char *key, const char *path,
                   const char *first, size_t len) {
  if (l->closed) return 503;
  if (ep_logs_count(l, key) >= l->max_per_key) return 429;
  follower *f = calloc(1, sizeof *f);
  if (!f) return 500;
  f->l = l;
  f->req = req;
  snprintf(f->key, sizeof f->key, "%s", key);
  snprintf(f->path, sizeof f->path, "%s", path);
  open_log(f, 1); /* from now on: `first` already holds the earlier lines */
  ep_http_add_header(req, "Cache-Control", "no-cache");
  ep_http_add_header(req, "X-Content-Type-Options", "nosniff");
  ep_http_stream_begin(req, 200, "text/plain; charset=utf-8");
  if (len) ep_http_stream_write(req, first, len);
  ep_http_req_on_abort(req, on_abort, f);
  f->next = l->list;
  l->list = f;
  if (!uv_is_active((uv_handle_t *)l->timer))
    uv_timer_start(l->timer, on_tick, l->poll_ms, l->poll_ms);
  return 0;
}

void ep_logs_end(ep_logs *l, const char *key) {
  if (!l) return;
  if (!key) l->closed = 1;
  follower *f = l->list;
  while (f) {
    follower *next = f->next;
    if (!key || !strcmp(f->key, key)) drop(f, 1);
    f = next;
  }
}

void ep_logs_free(ep_logs *l) {
  if (!l) return;
  ep_logs_end(l, NULL);
  uv_timer_stop(l->timer);
  uv_close((uv_handle_t *)l->timer, timer_closed);
  free(l);
}
