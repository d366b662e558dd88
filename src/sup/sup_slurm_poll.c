/* Slurm job observation for sup_slurm.c: one `squeue --me` at a time, at
 * most every poll_ms, run through uv_spawn and parsed when it exits (the
 * loop never blocks on it); jobs that reached a final state, or vanished from
 * a listing started after their id was known, are reported as exited
 * replicas. Also the start-up scan of our jobs for re-adoption, cancelling
 * the ones nobody re-adopted, and scancel of live jobs at shutdown. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "sup/pool.h"
#include "sup/sup-impl.h"

#define SQUEUE_FMT "%i|%T|%k"

ep__slurm *ep__sup_slurm_get(ep_sup *s) {
  if (!s->slurm) {
    s->slurm = calloc(1, sizeof *s->slurm);
    if (s->slurm) s->slurm->sup = s;
  }
  return s->slurm;
}

static const char *const k_final[] = {
    "COMPLETED",     "FAILED",    "CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL",
    "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",  "REVOKED", NULL};

static int is_final(const char *state) {
  for (int i = 0; k_final[i]; i++)
    if (!strcmp(state, k_final[i])) return 1;
  return 0;
}

static int is_slurm_live(const ep_sup_replica *r) {
  return r->be == &ep__sup_slurm && !r->exited && r->job_id > 0;
}

static void job_ended(ep_sup *s, ep_sup_replica *r, const char *state) {
  ep__sup_slurm_tail(r);
  char line[160];
  int n = snprintf(line, sizeof line, "supervisor: slurm job %ld ended: %s\n", r->job_id, state);
  ep__sup_emit(r, line, (size_t)n);
  ep_log_info("slurm job ended", "endpoint=%s replica=%d job=%ld state=%s", r->key, r->id,
              r->job_id, state);
  r->exited = 1;
  r->eof = 1;
  r->exit_status = !strcmp(state, "COMPLETED") ? 0 : 1;
  s->live--;
  uv_timer_stop(&r->timer);
  ep__sup_finish(r);
}

/* Finds "<id>|<STATE>|..." for job in text; copies STATE. 1 when found. */
static int find_job(const char *text, long job, char *state, size_t n) {
  for (const char *line = text; line && *line;) {
    char *end;
    long id = strtol(line, &end, 10);
    if (end != line && *end == '|' && id == job) {
      const char *st = end + 1;
      size_t k = strcspn(st, "|\n");
      snprintf(state, n, "%.*s", (int)k, st);
      return 1;
    }
    line = strchr(line, '\n');
    if (line) line++;
  }
  return 0;
}

static void poll_closed(uv_handle_t *h) {
  ep__slurm *sl = h->data;
  if (--sl->handles == 0 && !sl->sup) {
    ep_buf_free(&sl->buf);
    free(sl);
  }
}

static void poll_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b) {
  (void)h;
  (void)sug;
  static _Thread_local char slab[16384];
  b->base = slab;
  b->len = sizeof slab;
}

static void poll_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  ep__slurm *sl = st->data;
  if (n > 0) ep_buf_append(&sl->buf, b->base, (size_t)n);
  if (n < 0) uv_read_stop(st);
}

static void poll_exit(uv_process_t *p, int64_t status, int sig) {
  ep__slurm *sl = p->data;
  uv_os_fd_t fd;
  char tmp[16384];
  if (uv_fileno((uv_handle_t *)&sl->out, &fd) == 0) {
    ssize_t k;
    while ((k = read(fd, tmp, sizeof tmp)) > 0) ep_buf_append(&sl->buf, tmp, (size_t)k);
  }
  uv_close((uv_handle_t *)p, poll_closed);
  uv_close((uv_handle_t *)&sl->out, poll_closed);
  sl->running = 0;
  ep_sup *s = sl->sup;
  if (!s) return;
  uint64_t gen = sl->gen;
  const char *text = ep_buf_cstr(&sl->buf);
  if (status != 0 || sig != 0) {
    /* controller unreachable: keep everything as it is, try again later */
    ep_log_warn("squeue failed", "status=%d signal=%d", (int)status, sig);
  }
  for (ep_sup_replica *r = s->list, *next; r; r = next) {
    next = r->next;
    if (!is_slurm_live(r)) continue;
    ep__sup_slurm_tail(r);
    if (status != 0 || sig != 0) continue;
    char state[48];
    if (find_job(text, r->job_id, state, sizeof state)) {
      if (is_final(state)) job_ended(s, r, state);
    } else if (r->job_gen < gen) {
      job_ended(s, r, "no longer listed by squeue");
    }
  }
  ep_buf_reset(&sl->buf);
}

void ep__sup_slurm_poll(ep_sup *s) {
  ep__slurm *sl = s->slurm;
  if (!sl || sl->running) return;
  unsigned interval = 0;
  for (ep_sup_replica *r = s->list; r; r = r->next)
    if (is_slurm_live(r) && (!interval || r->pool->poll_ms < interval)) interval = r->pool->poll_ms;
  if (!interval) return;
  uint64_t now = ep_mono_ms();
  if (now - sl->last_ms < interval) return;
  sl->last_ms = now;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  char *argv[] = {"squeue", "--me", "-h", "--states=all", "-o", SQUEUE_FMT, NULL};
  uv_stdio_container_t io[3];
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_INHERIT_FD;
  io[1].data.fd = fds[1];
  io[2].flags = UV_IGNORE;
  uv_process_options_t o = {0};
  o.file = argv[0];
  o.args = argv;
  o.exit_cb = poll_exit;
  o.stdio = io;
  o.stdio_count = 3;
  sl->proc.data = sl->out.data = sl;
  int e = uv_spawn(s->loop, &sl->proc, &o);
  close(fds[1]);
  if (e != 0) {
    close(fds[0]);
    sl->handles++;
    uv_close((uv_handle_t *)&sl->proc, poll_closed);
    ep_log_warn("cannot run squeue", "err=%s", uv_strerror(e));
    return;
  }
  sl->gen++;
  uv_pipe_init(s->loop, &sl->out, 0);
  uv_pipe_open(&sl->out, fds[0]);
  uv_read_start((uv_stream_t *)&sl->out, poll_alloc, poll_read);
  sl->handles += 2;
  sl->running = 1;
}

/* ---- start-up and shutdown ------------------------------------------------- */

int ep_sup_slurm_scan(ep_sup *s) {
  ep__slurm *sl = ep__sup_slurm_get(s);
  if (!sl) return EP_ENOMEM;
  FILE *f = popen("squeue --me -h -o '" SQUEUE_FMT "' 2>/dev/null", "r");
  if (!f) return -1;
  char line[1024], prefix[64];
  snprintf(prefix, sizeof prefix, "endpointd:%s:", s->instance_id);
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    char *end;
    long id = strtol(line, &end, 10);
    if (end == line || *end != '|') continue;
    char *st = end + 1, *bar = strchr(st, '|');
    if (!bar) continue;
    *bar = 0;
    const char *comment = bar + 1;
    if (is_final(st) || strncmp(comment, prefix, strlen(prefix))) continue;
    char *rend;
    long long rev = strtoll(comment + strlen(prefix), &rend, 10);
    if (*rend != ':') continue;
    ep__slurm_adopt *a = calloc(1, sizeof *a);
    if (!a) break;
    a->job = id;
    a->rev = rev;
    snprintf(a->key, sizeof a->key, "%s", rend + 1);
    a->next = sl->adopt;
    sl->adopt = a;
    n++;
  }
  int st = pclose(f);
  if (st != 0) {
    ep_log_warn("squeue failed at start-up: running jobs cannot be re-adopted", "status=%d", st);
    return -1;
  }
  if (n) ep_log_info("slurm jobs of a previous run found", "count=%d", n);
  return n;
}

int ep_sup_slurm_cancel_unclaimed(ep_sup *s) {
  ep__slurm *sl = s->slurm;
  int n = 0;
  while (sl && sl->adopt) {
    ep__slurm_adopt *a = sl->adopt;
    sl->adopt = a->next;
    if (!a->claimed) {
      char job[32];
      snprintf(job, sizeof job, "%ld", a->job);
      char *argv[] = {"scancel", job, NULL};
      ep__sup_run_detached(s->loop, argv);
      ep_log_info("cancelled stale slurm job", "job=%ld endpoint=%s", a->job, a->key);
      n++;
    }
    free(a);
  }
  return n;
}

void ep__sup_slurm_free(ep_sup *s) {
  ep__slurm *sl = s->slurm;
  if (!sl) return;
  /* the daemon stops: its Slurm replicas stop with it (as local ones do) */
  char *argv[66];
  char ids[64][24];
  int n = 0;
  argv[n++] = "scancel";
  for (ep_sup_replica *r = s->list; r && n < 65; r = r->next) {
    if (!is_slurm_live(r)) continue;
    snprintf(ids[n - 1], sizeof ids[n - 1], "%ld", r->job_id);
    argv[n] = ids[n - 1];
    n++;
  }
  argv[n] = NULL;
  if (n > 1) {
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open("/dev/null", O_WRONLY);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execvp(argv[0], argv);
      _exit(127);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
  }
  while (sl->adopt) {
    ep__slurm_adopt *a = sl->adopt;
    sl->adopt = a->next;
    free(a);
  }
  sl->sup = NULL;
  s->slurm = NULL;
  if (sl->running) {
    uv_close((uv_handle_t *)&sl->proc, poll_closed);
    uv_close((uv_handle_t *)&sl->out, poll_closed);
  } else if (sl->handles == 0) {
    ep_buf_free(&sl->buf);
    free(sl);
  }
}
