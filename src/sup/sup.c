/* Supervisor core (see sup.h): replica lifecycle, output capture into the
 * per-endpoint log file with size rotation, last-lines ring for error
 * messages, non-blocking reaping on SIGCHLD and on the tick, graceful stop
 * (SIGTERM to the group, SIGKILL after the grace period) and HTTP probes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "sup/sup-impl.h"

ep_sup_params ep_sup_default_params(void) {
  ep_sup_params p = {4u << 20, 5000, "podman", "endpointd", NULL, NULL};
  return p;
}

static void on_sigchld(uv_signal_t *h, int sig) {
  (void)sig;
  ep_sup_reap(h->data);
}

int ep_sup_init(uv_loop_t *loop, const ep_sup_params *p, ep_sup **out) {
  ep_sup *s = calloc(1, sizeof *s);
  if (!s) return EP_ENOMEM;
  s->loop = loop;
  s->p = p ? *p : ep_sup_default_params();
  if (!s->p.log_max_bytes) s->p.log_max_bytes = 4u << 20;
  snprintf(s->engine, sizeof s->engine, "%s",
           s->p.container_engine ? s->p.container_engine : "podman");
  snprintf(s->tag, sizeof s->tag, "%s", s->p.instance_tag ? s->p.instance_tag : "endpointd");
  uint32_t h = 2166136261u; /* FNV-1a of the instance id: marks our Slurm jobs */
  for (const char *c = s->p.instance_id ? s->p.instance_id : s->tag; *c; c++)
    h = (h ^ (uint8_t)*c) * 16777619u;
  snprintf(s->instance_id, sizeof s->instance_id, "%08x", h);
  if (s->p.run_dir && *s->p.run_dir && strlen(s->p.run_dir) < sizeof s->run_dir) {
    snprintf(s->run_dir, sizeof s->run_dir, "%s", s->p.run_dir);
    if (mkdir(s->run_dir, 0700) != 0 && errno != EEXIST) s->run_dir[0] = '\0';
    int n = s->run_dir[0] ? ep__sup_unlink_stale_sockets(s->run_dir) : 0;
    if (n > 0) ep_log_info("removed stale replica sockets", "dir=%s count=%d", s->run_dir, n);
  }
  s->p.run_dir = NULL; /* borrowed at init only; s->run_dir is the copy */
  if (ep_http_client_init(loop, &s->http)) {
    free(s);
    return EP_ENOMEM;
  }
  ep_http_client_set_pool(s->http, 0);
  uv_signal_init(loop, &s->sigchld);
  s->sigchld.data = s;
  uv_signal_start(&s->sigchld, on_sigchld, SIGCHLD);
  s->next_id = 1;
  *out = s;
  return EP_OK;
}

/* ---- logs ------------------------------------------------------------- */

int ep_sup_log_append(const char *path, const char *data, size_t len, size_t max_bytes) {
  if (!path) return EP_EINVAL;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return EP_EIO;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return EP_EIO;
    }
    off += (size_t)w;
  }
  struct stat st;
  int rot = fstat(fd, &st) == 0 && max_bytes && (size_t)st.st_size > max_bytes;
  close(fd);
  if (rot) {
    char old[4096];
    snprintf(old, sizeof old, "%s.1", path);
    rename(path, old); /* the next append creates a fresh file */
  }
  return EP_OK;
}

static void tail_push(ep_sup_replica *r, const char *line, size_t n) {
  char *copy = strndup(line, n > 512 ? 512 : n);
  if (!copy) return;
  free(r->tail[r->tail_next]);
  r->tail[r->tail_next] = copy;
  r->tail_next = (r->tail_next + 1) % EP_SUP_TAIL_LINES;
  if (r->tail_n < EP_SUP_TAIL_LINES) r->tail_n++;
}

/* Writes complete lines of r->partial (all of it when flush) to the log. */
static void emit_lines(ep_sup_replica *r, int flush) {
  ep_buf out = EP_BUF_INIT;
  char ts[32];
  ep_time_iso(ep_wall_ms(), ts, sizeof ts);
  size_t start = 0;
  for (size_t i = 0; i < r->partial.len; i++) {
    if (r->partial.data[i] != '\n') continue;
    size_t n = i - start;
    if (n && r->partial.data[start + n - 1] == '\r') n--;
    ep_buf_printf(&out, "%s r%d ", ts, r->id);
    ep_buf_append(&out, r->partial.data + start, n);
    ep_buf_puts(&out, "\n");
    tail_push(r, r->partial.data + start, n);
    start = i + 1;
  }
  /* very long lines without newline are cut at 16 KiB */
  if ((flush || r->partial.len - start > 16384) && r->partial.len > start) {
    size_t n = r->partial.len - start;
    ep_buf_printf(&out, "%s r%d ", ts, r->id);
    ep_buf_append(&out, r->partial.data + start, n);
    ep_buf_puts(&out, "\n");
    tail_push(r, r->partial.data + start, n);
    start = r->partial.len;
  }
  ep_buf_consume(&r->partial, start);
  if (out.len) ep_sup_log_append(r->log_path, out.data, out.len, r->sup->p.log_max_bytes);
  ep_buf_free(&out);
}

void ep__sup_emit(ep_sup_replica *r, const char *data, size_t len) {
  ep_buf_append(&r->partial, data, len);
  emit_lines(r, 0);
}

void ep_sup_replica_last_lines(const ep_sup_replica *r, size_t max_lines, char *out, size_t outsz) {
  if (!outsz) return;
  out[0] = 0;
  size_t n = r->tail_n < max_lines ? r->tail_n : max_lines;
  size_t pos = 0;
  for (size_t k = 0; k < n; k++) {
    size_t idx = (r->tail_next + EP_SUP_TAIL_LINES - n + k) % EP_SUP_TAIL_LINES;
    int w = snprintf(out + pos, outsz - pos, "%s%s", k ? "\n" : "", r->tail[idx]);
    if (w < 0 || (size_t)w >= outsz - pos) break;
    pos += (size_t)w;
  }
}

/* ---- lifecycle -------------------------------------------------------- */

static void replica_free(ep_sup_replica *r) {
  ep_sup *s = r->sup;
  if (s) {
    if (r->prev)
      r->prev->next = r->next;
    else
      s->list = r->next;
    if (r->next) r->next->prev = r->prev;
  }
  for (size_t i = 0; i < EP_SUP_TAIL_LINES; i++) free(r->tail[i]);
  ep_buf_free(&r->partial);
  free(r->key);
  free(r->log_path);
  free(r->container_name);
  free(r->out_path);
  free(r->addr_path);
  free(r->script_path);
  free(r->env_path);
  ep_buf_free(&r->sbatch_buf);
  free(r);
}

void ep__sup_on_closed(uv_handle_t *h) {
  ep_sup_replica *r = h->data;
  if (--r->handles == 0) replica_free(r);
}
#define on_closed ep__sup_on_closed

static void close_handles(ep_sup_replica *r) {
  if (r->pipe_open) {
    r->pipe_open = 0;
    uv_close((uv_handle_t *)&r->out, on_closed);
  }
  if (!uv_is_closing((uv_handle_t *)&r->timer)) uv_close((uv_handle_t *)&r->timer, on_closed);
  if (r->be == &ep__sup_slurm) ep__sup_slurm_close(r);
}

static void maybe_report(ep_sup_replica *r) {
  if (r->reported || !r->exited || !r->eof) return;
  r->reported = 1;
  emit_lines(r, 1);
  if (r->probe) {
    ep_http_client_cancel(r->probe);
    r->probe = NULL;
  }
  if (r->be->after_exit) r->be->after_exit(r->sup, r);
  if (r->unix_path[0]) unlink(r->unix_path); /* left behind when it was killed */
  ep_http_client_forget_port(r->sup->http, r->port);
  if (r->on_exit) r->on_exit(r, r->exit_status, r->term_signal, r->ud);
  close_handles(r);
}

void ep__sup_finish(ep_sup_replica *r) { maybe_report(r); }

static void on_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b) {
  (void)h;
  (void)sug;
  static _Thread_local char slab[16384];
  b->base = slab;
  b->len = sizeof slab;
}

static void on_output(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  ep_sup_replica *r = st->data;
  if (n > 0) {
    ep_buf_append(&r->partial, b->base, (size_t)n);
    emit_lines(r, 0);
    return;
  }
  if (n < 0) {
    uv_read_stop(st);
    r->eof = 1;
    maybe_report(r);
  }
}

static void on_timer(uv_timer_t *t) {
  ep_sup_replica *r = t->data;
  if (!r->exited && r->be == &ep__sup_slurm) {
    ep__sup_slurm_stop(r, 1);
    return;
  }
  if (!r->exited) { /* grace period over */
    kill(-r->pid, SIGKILL);
    kill(r->pid, SIGKILL);
    return;
  }
  r->eof = 1; /* drain deadline: something in the group kept the pipe open */
  maybe_report(r);
}

int ep_sup_replica_start(ep_sup *s, const ep_sup_spec *spec, ep_sup_exit_cb on_exit, void *ud,
                         ep_sup_replica **out) {
  if (!s || !spec || !spec->log_path || spec->port <= 0) return EP_EINVAL;
  const ep_sup_backend *be = spec->backend == EP_SUP_CONTAINER ? &ep__sup_container
                            : spec->backend == EP_SUP_SLURM   ? &ep__sup_slurm
                                                              : &ep__sup_local;
  if (be == &ep__sup_slurm && !spec->pool) return EP_EINVAL;
  ep_sup_replica *r = calloc(1, sizeof *r);
  if (!r) return EP_ENOMEM;
  r->sup = s;
  r->be = be;
  r->id = s->next_id++;
  r->port = spec->port;
  r->key = strdup(spec->key ? spec->key : "");
  r->log_path = strdup(spec->log_path);
  r->on_exit = on_exit;
  r->ud = ud;
  r->exit_status = -1;
  snprintf(r->host, sizeof r->host, "127.0.0.1");
  if (be == &ep__sup_local) ep__sup_local_unix_path(s, r, spec);
  if (be == &ep__sup_slurm) {
    int rc = ep__sup_slurm_start(s, r, spec);
    if (rc) {
      replica_free(r);
      return rc;
    }
    uv_timer_init(s->loop, &r->timer);
    r->timer.data = r;
    r->handles++;
    r->next = s->list;
    if (s->list) s->list->prev = r;
    s->list = r;
    s->live++;
    if (out) *out = r;
    return EP_OK;
  }
  char **argv = NULL;
  int rc = be->build_argv(s, r, spec, &argv);
  char **env = NULL;
  size_t nenv = 0;
  while (spec->env && spec->env[nenv]) nenv++;
  if (!rc && be == &ep__sup_local) {
    env = calloc(nenv + 2, sizeof *env);
    if (!env) rc = EP_ENOMEM;
    for (size_t i = 0; !rc && i < nenv; i++)
      env[i] = ep__sup_subst(spec->env[i], r->port, r->unix_path);
    if (!rc) {
      char pb[32];
      snprintf(pb, sizeof pb, "PORT=%d", r->port);
      env[nenv] = strdup(pb);
    }
  }
  int fds[2] = {-1, -1};
  if (!rc && pipe2(fds, O_CLOEXEC) != 0) rc = EP_EIO;
  pid_t pid = -1;
  if (!rc) {
    pid = ep__sup_spawn(argv, env, fds[1]);
    close(fds[1]);
    if (pid < 0)
      rc = EP_EIO;
    else
      setpgid(pid, pid); /* also done in the child; whichever runs first */
  }
  for (size_t i = 0; argv && argv[i]; i++) free(argv[i]);
  free(argv);
  for (size_t i = 0; env && env[i]; i++) free(env[i]);
  free(env);
  if (rc) {
    if (fds[0] >= 0) close(fds[0]);
    char msg[256];
    char ts[32];
    ep_time_iso(ep_wall_ms(), ts, sizeof ts);
    snprintf(msg, sizeof msg, "%s supervisor: failed to start replica: %s\n", ts, ep_strerror(rc));
    ep_sup_log_append(r->log_path, msg, strlen(msg), s->p.log_max_bytes);
    free(r->key);
    free(r->log_path);
    free(r->container_name);
    free(r);
    return rc;
  }
  r->pid = pid;
  uv_pipe_init(s->loop, &r->out, 0);
  uv_timer_init(s->loop, &r->timer);
  r->out.data = r->timer.data = r;
  r->handles = 2;
  r->pipe_open = 1;
  if (uv_pipe_open(&r->out, fds[0]) != 0 ||
      uv_read_start((uv_stream_t *)&r->out, on_alloc, on_output) != 0)
    r->eof = 1;
  r->next = s->list;
  if (s->list) s->list->prev = r;
  s->list = r;
  s->live++;
  ep_log_info("replica started", "endpoint=%s replica=%d pid=%d port=%d unix=%s backend=%s", r->key,
              r->id, (int)pid, r->port, r->unix_path[0] ? r->unix_path : "-", be->name);
  if (out) *out = r;
  return EP_OK;
}

void ep_sup_replica_stop(ep_sup_replica *r, unsigned grace_ms) {
  if (!r || r->exited) return;
  if (r->stopping && grace_ms) return;
  r->stopping = 1;
  if (r->be == &ep__sup_slurm) {
    ep__sup_slurm_stop(r, grace_ms == 0);
    if (grace_ms) uv_timer_start(&r->timer, on_timer, grace_ms, 0);
    return;
  }
  if (kill(-r->pid, grace_ms ? SIGTERM : SIGKILL) != 0) kill(r->pid, grace_ms ? SIGTERM : SIGKILL);
  if (grace_ms) uv_timer_start(&r->timer, on_timer, grace_ms, 0);
}

void ep_sup_reap(ep_sup *s) {
  for (ep_sup_replica *r = s->list, *next; r; r = next) {
    next = r->next;
    if (r->exited || r->be == &ep__sup_slurm) continue;
    int st = 0;
    pid_t w = waitpid(r->pid, &st, WNOHANG);
    if (w == 0 || (w < 0 && errno != ECHILD)) continue;
    r->exited = 1;
    s->live--;
    if (w > 0 && WIFEXITED(st)) r->exit_status = WEXITSTATUS(st);
    if (w > 0 && WIFSIGNALED(st)) r->term_signal = WTERMSIG(st);
    kill(-r->pid, SIGKILL); /* whatever the replica left behind in its group */
    ep_log_info("replica exited", "endpoint=%s replica=%d pid=%d status=%d signal=%d", r->key,
                r->id, (int)r->pid, r->exit_status, r->term_signal);
    uv_timer_stop(&r->timer);
    uv_timer_start(&r->timer, on_timer, 1000, 0);
    maybe_report(r);
  }
  if (s->slurm) ep__sup_slurm_poll(s);
}

size_t ep_sup_live(const ep_sup *s) { return s->live; }
int ep_sup_replica_port(const ep_sup_replica *r) { return r->port; }
pid_t ep_sup_replica_pid(const ep_sup_replica *r) { return r->pid; }
int ep_sup_replica_id(const ep_sup_replica *r) { return r->id; }
const char *ep_sup_replica_host(const ep_sup_replica *r) {
  return r->unix_path[0] ? r->unix_path : r->host;
}
long ep_sup_replica_job(const ep_sup_replica *r) { return r->job_id; }

/* ---- probes ----------------------------------------------------------- */

static void probe_head(ep_http_creq *q, int status, const ep_http_header *h, size_t n, void *ud) {
  (void)q;
  (void)h;
  (void)n;
  ((ep_sup_replica *)ud)->probe_status = status;
}

static void probe_done(ep_http_creq *q, int err, void *ud) {
  (void)q;
  ep_sup_replica *r = ud;
  int status = err ? 0 : r->probe_status;
  r->probe = NULL;
  ep_sup_probe_cb cb = r->probe_cb;
  r->probe_cb = NULL;
  if (cb) cb(r, status, r->probe_ud);
}

int ep_sup_replica_probe(ep_sup_replica *r, const char *route, unsigned timeout_ms,
                         ep_sup_probe_cb cb, void *ud) {
  if (!r || r->exited) return EP_ESTATE;
  if (r->probe) return EP_EBUSY;
  if (r->be == &ep__sup_slurm && !ep__sup_slurm_addr(r)) return EP_EBUSY; /* not placed yet */
  static const ep_http_client_cbs cbs = {probe_head, NULL, probe_done};
  ep_http_client_reqspec rs = {"GET", route && *route ? route : "/health", NULL, 0, NULL,
                               0,     timeout_ms ? timeout_ms : 2000};
  r->probe_cb = cb;
  r->probe_ud = ud;
  r->probe_status = 0;
  int rc =
      ep_http_client_send(r->sup->http, ep_sup_replica_host(r), r->port, &rs, &cbs, r, &r->probe);
  if (rc) r->probe_cb = NULL;
  return rc;
}

int ep_sup_free_port(void) {
  uv_loop_t loop;
  if (uv_loop_init(&loop)) return 0;
  uv_tcp_t t;
  uv_tcp_init(&loop, &t);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  int port = 0;
  if (uv_tcp_bind(&t, (struct sockaddr *)&a, 0) == 0) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len) == 0)
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return port;
}

static void sup_closed(uv_handle_t *h) { free(h->data); }

void ep_sup_free(ep_sup *s) {
  if (!s) return;
  for (ep_sup_replica *r = s->list; r; r = r->next) {
    if (!r->exited && r->be != &ep__sup_slurm) {
      kill(-r->pid, SIGKILL);
      kill(r->pid, SIGKILL);
      waitpid(r->pid, NULL, 0);
      r->exited = 1;
    }
    if (r->probe) {
      ep_http_client_cancel(r->probe);
      r->probe = NULL;
    }
    if (r->be->after_exit && !r->reported) r->be->after_exit(s, r);
    if (r->unix_path[0]) unlink(r->unix_path);
    r->reported = 1;
  }
  ep__sup_slurm_free(s); /* scancels our jobs; the replicas are detached below */
  while (s->list) {
    ep_sup_replica *r = s->list;
    if (r->handles) { /* detach; the replica frees itself once its handles closed */
      r->on_exit = NULL;
      close_handles(r);
      /* handles close on the next loop run; replica_free unlinks it */
      s->list = r->next;
      if (s->list) s->list->prev = NULL;
      r->prev = r->next = NULL;
      r->sup = NULL;
    } else {
      replica_free(r);
    }
  }
  uv_signal_stop(&s->sigchld);
  ep_http_client_free(s->http);
  uv_close((uv_handle_t *)&s->sigchld, sup_closed); /* frees s */
}
