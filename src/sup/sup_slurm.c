/* Slurm backend: a replica is one batch job. Start writes a job script into
 * the pool's shared_dir (it records "HOST PORT" in <jobid>.addr, then execs
 * the replica command) and runs `sbatch --parsable` through uv_spawn; stop
 * is `scancel` (TERM, KILL after KillWait; `scancel -f -s KILL` after our
 * grace); one `squeue --me` per poll interval (uv_spawn, parsed when it
 * exits) notices jobs that ended, failed, hit their time limit or were
 * preempted and reports them as exited replicas. Job output (<jobid>.out on
 * shared storage) is tailed into the endpoint log. Jobs carry a comment
 * "endpointd:<instance>:<revision>:<ns>/<name>" so a restarted daemon can
 * re-adopt them. No tokens: --export=NONE, the spec's env goes through a
 * 0600 file that the job deletes after reading. Loop thread only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "sup/pool.h"
#include "sup/sup-impl.h"

/* ---- small helpers ------------------------------------------------------ */

static void log_line(ep_sup_replica *r, const char *fmt, const char *a, long n) {
  char line[512];
  int k = snprintf(line, sizeof line, "supervisor: ");
  k += snprintf(line + k, sizeof line - (size_t)k, fmt, a ? a : "", n);
  if (k > (int)sizeof line - 2) k = (int)sizeof line - 2;
  line[k++] = '\n';
  ep__sup_emit(r, line, (size_t)k);
}

/* 'text' for /bin/sh */
static void sh_quote(ep_buf *b, const char *s) {
  ep_buf_puts(b, "'");
  for (; *s; s++) {
    if (*s == '\'')
      ep_buf_puts(b, "'\\''");
    else
      ep_buf_append(b, s, 1);
  }
  ep_buf_puts(b, "'");
}

static int write_file(const char *path, const char *data, size_t len, int mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return EP_EIO;
  fchmod(fd, (mode_t)mode);
  int ok = write(fd, data, len) == (ssize_t)len;
  return close(fd) == 0 && ok ? EP_OK : EP_EIO;
}

static void job_name(char *dst, size_t n, const char *key, int id) {
  snprintf(dst, n, "endpointd-%s-%d", key, id);
  for (char *p = dst; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '.' || *p == '_'))
      *p = '-';
}

/* Fire-and-forget command (scancel): reaped by libuv, handle freed on exit. */
static void detached_exit(uv_process_t *p, int64_t st, int sig) {
  (void)st;
  (void)sig;
  uv_close((uv_handle_t *)p, (uv_close_cb)free);
}

void ep__sup_run_detached(uv_loop_t *loop, char **argv) {
  uv_process_t *p = calloc(1, sizeof *p);
  if (!p) return;
  uv_stdio_container_t io[3] = {{UV_IGNORE, {0}}, {UV_IGNORE, {0}}, {UV_IGNORE, {0}}};
  uv_process_options_t o = {0};
  o.file = argv[0];
  o.args = argv;
  o.exit_cb = detached_exit;
  o.stdio = io;
  o.stdio_count = 3;
  if (uv_spawn(loop, p, &o) != 0) {
    ep_log_warn("spawn failed", "cmd=%s", argv[0]);
    uv_close((uv_handle_t *)p, (uv_close_cb)free);
  }
}

/* ---- start -------------------------------------------------------------- */

static void sbatch_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b) {
  (void)h;
  (void)sug;
  static _Thread_local char slab[4096];
  b->base = slab;
  b->len = sizeof slab;
}

static void sbatch_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  ep_sup_replica *r = st->data;
  if (n > 0) ep_buf_append(&r->sbatch_buf, b->base, (size_t)n);
  if (n < 0) uv_read_stop(st);
}

static void sbatch_exit(uv_process_t *p, int64_t status, int sig) {
  ep_sup_replica *r = p->data;
  r->sbatch_running = 0;
  /* the pipe may still hold bytes: read what is there synchronously */
  char tmp[4096];
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&r->sbatch_out, &fd) == 0) {
    ssize_t k;
    while ((k = read(fd, tmp, sizeof tmp)) > 0) ep_buf_append(&r->sbatch_buf, tmp, (size_t)k);
  }
  uv_close((uv_handle_t *)p, ep__sup_on_closed);
  uv_close((uv_handle_t *)&r->sbatch_out, ep__sup_on_closed);
  if (r->script_path) unlink(r->script_path);
  const char *text = ep_buf_cstr(&r->sbatch_buf);
  long job = 0;
  if (status == 0 && sig == 0) {
    /* --parsable: "<id>" or "<id>;<cluster>"; warnings may come first */
    for (const char *line = text; line && *line;) {
      char *end;
      long v = strtol(line, &end, 10);
      if (end != line && (*end == 0 || *end == ';' || *end == '\n' || *end == '\r')) job = v;
      line = strchr(line, '\n');
      if (line) line++;
    }
  }
  if (r->sbatch_buf.len) ep__sup_emit(r, text, r->sbatch_buf.len), ep__sup_emit(r, "\n", 1);
  if (!r->sup) return; /* supervisor gone */
  if (job <= 0) {
    if (r->env_path) unlink(r->env_path);
    log_line(r, "sbatch failed (exit status %s%ld)", "", (long)status);
    r->exited = 1;
    r->eof = 1;
    r->exit_status = status ? (int)status : 1;
    r->sup->live--;
    uv_timer_stop(&r->timer);
    ep__sup_finish(r);
    return;
  }
  r->job_id = job;
  r->job_gen = r->sup->slurm ? r->sup->slurm->gen : 0;
  char path[1200];
  snprintf(path, sizeof path, "%s/%ld.out", r->pool->shared_dir, job);
  r->out_path = strdup(path);
  snprintf(path, sizeof path, "%s/%ld.addr", r->pool->shared_dir, job);
  r->addr_path = strdup(path);
  ep_log_info("slurm job submitted", "endpoint=%s replica=%d job=%ld", r->key, r->id, job);
  log_line(r, "submitted slurm job %s%ld", "", job);
  if (r->stopping) ep__sup_slurm_stop(r, 0);
}

int ep__sup_slurm_start(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec) {
  const ep_sup_pool *pool = spec->pool;
  ep__slurm *sl = ep__sup_slurm_get(s);
  if (!sl || !spec->argv || !spec->argv[0]) return EP_EINVAL;
  r->pool = pool;
  char comment[256];
  snprintf(comment, sizeof comment, "endpointd:%s:%lld:%s", s->instance_id,
           (long long)spec->revision, spec->key ? spec->key : "");
  /* a job of the previous daemon run for the same endpoint and revision */
  for (ep__slurm_adopt *a = sl->adopt; a; a = a->next) {
    if (a->claimed || a->rev != spec->revision || strcmp(a->key, r->key)) continue;
    a->claimed = 1;
    char path[1200];
    r->job_id = a->job;
    r->job_gen = sl->gen;
    snprintf(path, sizeof path, "%s/%ld.out", pool->shared_dir, a->job);
    r->out_path = strdup(path);
    snprintf(path, sizeof path, "%s/%ld.addr", pool->shared_dir, a->job);
    r->addr_path = strdup(path);
    struct stat st;
    r->out_off = stat(r->out_path, &st) == 0 ? (long)st.st_size : 0; /* old output is logged */
    ep_log_info("slurm job re-adopted", "endpoint=%s replica=%d job=%ld", r->key, r->id, a->job);
    log_line(r, "re-adopted running slurm job %s%ld", "", a->job);
    return EP_OK;
  }
  int si = ep_pool_size_index(spec->instance_size);
  if (si < 0) si = 0;
  mkdir(pool->shared_dir, 0755);
  char base[1300];
  snprintf(base, sizeof base, "%s/.job-%s-%d-%d-%llu", pool->shared_dir, s->instance_id,
           (int)getpid(), r->id, (unsigned long long)ep_wall_ms());
  ep_buf env = EP_BUF_INIT, sh = EP_BUF_INIT;
  /* environment file: the spec's env (may hold user secrets) never enters
   * the script, the command line or sbatch's exported environment */
  for (size_t i = 0; spec->env && spec->env[i]; i++) {
    char *kv = ep__sup_subst_port(spec->env[i], r->port);
    char *eq = strchr(kv, '=');
    if (eq && eq != kv) {
      *eq = 0;
      ep_buf_printf(&env, "export %s=", kv);
      sh_quote(&env, eq + 1);
      ep_buf_puts(&env, "\n");
    }
    free(kv);
  }
  char envp[1320], scriptp[1320];
  snprintf(envp, sizeof envp, "%s.env", base);
  snprintf(scriptp, sizeof scriptp, "%s.sh", base);
  ep_buf_printf(&sh, "#!/bin/sh\n# endpointd replica %s (revision %lld)\n",
                spec->key ? spec->key : "", (long long)spec->revision);
  if (!strcmp(pool->replica_host, "node"))
    ep_buf_puts(&sh,
                "H=$(hostname -I 2>/dev/null | awk '{print $1}')\n[ -n \"$H\" ] || H=127.0.0.1\n");
  else {
    ep_buf_puts(&sh, "H=");
    sh_quote(&sh, pool->replica_host);
    ep_buf_puts(&sh, "\n");
  }
  ep_buf_puts(&sh, "A=");
  sh_quote(&sh, pool->shared_dir);
  ep_buf_printf(&sh,
                "/$SLURM_JOB_ID.addr\nprintf '%%s %%d\\n' \"$H\" %d > \"$A.tmp\" && "
                "mv -f \"$A.tmp\" \"$A\"\n",
                r->port);
  ep_buf_puts(&sh, "E=");
  sh_quote(&sh, envp);
  ep_buf_puts(&sh, "\nif [ -f \"$E\" ]; then . \"$E\"; rm -f \"$E\"; fi\n");
  ep_buf_printf(&sh, "export PORT=%d\nexport PATH=", r->port);
  const char *path = getenv("PATH");
  sh_quote(&sh, path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  ep_buf_puts(&sh, "\nexec");
  for (size_t i = 0; spec->argv[i]; i++) {
    char *a = ep__sup_subst_port(spec->argv[i], r->port);
    ep_buf_puts(&sh, " ");
    sh_quote(&sh, a);
    free(a);
  }
  ep_buf_puts(&sh, "\n");
  int rc = write_file(envp, env.len ? env.data : "", env.len, 0600);
  if (!rc) rc = write_file(scriptp, sh.data, sh.len, 0700);
  ep_buf_free(&env);
  ep_buf_free(&sh);
  r->env_path = strdup(envp);
  r->script_path = strdup(scriptp);
  if (rc) {
    unlink(envp);
    unlink(scriptp);
    char msg[1500];
    snprintf(msg, sizeof msg, "supervisor: cannot write the job script in %s\n", pool->shared_dir);
    ep_sup_log_append(r->log_path, msg, strlen(msg), s->p.log_max_bytes);
    return rc;
  }
  /* sbatch command line: nothing secret in it */
  char name[200], cpt[32], outp[1200], chdir[1100], tmp[4][128];
  job_name(name, sizeof name, spec->key ? spec->key : "ep", r->id);
  snprintf(cpt, sizeof cpt, "--cpus-per-task=%d", pool->cpus[si]);
  snprintf(outp, sizeof outp, "--output=%s/%%j.out", pool->shared_dir);
  snprintf(chdir, sizeof chdir, "--chdir=%s", pool->shared_dir);
  char *argv[48];
  int n = 0;
  char commentarg[300], memarg[40];
  snprintf(commentarg, sizeof commentarg, "--comment=%s", comment);
  snprintf(memarg, sizeof memarg, "--mem=%s", pool->mem[si]);
  argv[n++] = "sbatch";
  argv[n++] = "--parsable";
  argv[n++] = "-J";
  argv[n++] = name;
  argv[n++] = commentarg;
  argv[n++] = "--export=NONE";
  argv[n++] = "--no-requeue";
  argv[n++] = "--open-mode=append";
  argv[n++] = outp;
  argv[n++] = chdir;
  argv[n++] = cpt;
  argv[n++] = memarg;
  const char *opt[4][2] = {{"--partition=", pool->partition},
                           {"--account=", pool->account},
                           {"--qos=", pool->qos},
                           {"--time=", pool->time_limit}};
  for (int i = 0; i < 4; i++)
    if (opt[i][1][0]) {
      snprintf(tmp[i], sizeof tmp[i], "%s%s", opt[i][0], opt[i][1]);
      argv[n++] = tmp[i];
    }
  char gres[96];
  if (pool->gres[si][0]) {
    snprintf(gres, sizeof gres, "--gres=%s", pool->gres[si]);
    argv[n++] = gres;
  }
  for (int i = 0; pool->extra_args[i] && n < 45; i++) argv[n++] = pool->extra_args[i];
  argv[n++] = scriptp;
  argv[n] = NULL;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return EP_EIO;
  uv_stdio_container_t io[3];
  io[0].flags = UV_IGNORE;
  io[1].flags = io[2].flags = UV_INHERIT_FD;
  io[1].data.fd = io[2].data.fd = fds[1];
  uv_process_options_t o = {0};
  o.file = "sbatch";
  o.args = argv;
  o.exit_cb = sbatch_exit;
  o.stdio = io;
  o.stdio_count = 3;
  r->sbatch.data = r->sbatch_out.data = r;
  int e = uv_spawn(s->loop, &r->sbatch, &o);
  close(fds[1]);
  if (e != 0) {
    close(fds[0]);
    unlink(envp);
    unlink(scriptp);
    uv_close((uv_handle_t *)&r->sbatch, NULL); /* spawn failure still inits the handle */
    char msg[256];
    snprintf(msg, sizeof msg, "supervisor: cannot run sbatch: %s\n", uv_strerror(e));
    ep_sup_log_append(r->log_path, msg, strlen(msg), s->p.log_max_bytes);
    return EP_EIO;
  }
  uv_pipe_init(s->loop, &r->sbatch_out, 0);
  uv_pipe_open(&r->sbatch_out, fds[0]);
  uv_read_start((uv_stream_t *)&r->sbatch_out, sbatch_alloc, sbatch_read);
  r->handles += 2;
  r->sbatch_running = 1;
  ep_log_info("replica started", "endpoint=%s replica=%d port=%d backend=slurm pool=%s", r->key,
              r->id, r->port, pool->name);
  return EP_OK;
}

/* ---- stop, address, output ------------------------------------------------ */

void ep__sup_slurm_stop(ep_sup_replica *r, int kill_now) {
  if (!r->job_id || !r->sup) return; /* sbatch still running: stopped when it returns */
  char job[32];
  snprintf(job, sizeof job, "%ld", r->job_id);
  char *plain[] = {"scancel", job, NULL};
  char *kill9[] = {"scancel", "-f", "-s", "KILL", job, NULL};
  ep__sup_run_detached(r->sup->loop, kill_now ? kill9 : plain);
  if (kill_now) ep__sup_run_detached(r->sup->loop, plain);
}

int ep__sup_slurm_addr(ep_sup_replica *r) {
  if (r->addr_ok) return 1;
  if (!r->addr_path) return 0;
  FILE *f = fopen(r->addr_path, "r");
  if (!f) return 0;
  char host[64];
  int port = 0;
  int got = fscanf(f, "%63s %d", host, &port);
  fclose(f);
  struct in_addr ia;
  if (got != 2 || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &ia) != 1) return 0;
  snprintf(r->host, sizeof r->host, "%s", host);
  r->port = port;
  r->addr_ok = 1;
  return 1;
}

void ep__sup_slurm_tail(ep_sup_replica *r) {
  if (!r->out_path) return;
  int fd = open(r->out_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[16384];
  for (int rounds = 0; rounds < 64; rounds++) { /* at most 1 MiB per call */
    ssize_t k = pread(fd, buf, sizeof buf, r->out_off);
    if (k <= 0) break;
    r->out_off += k;
    ep__sup_emit(r, buf, (size_t)k);
  }
  close(fd);
}

static void slurm_after_exit(ep_sup *s, ep_sup_replica *r) {
  (void)s;
  if (r->addr_path) unlink(r->addr_path);
  if (r->out_path) unlink(r->out_path);
  if (r->env_path) unlink(r->env_path);
}

static int build_argv_unused(ep_sup *s, ep_sup_replica *r, const ep_sup_spec *spec, char ***out) {
  (void)s;
  (void)r;
  (void)spec;
  (void)out;
  return EP_EUNSUPPORTED;
}

const ep_sup_backend ep__sup_slurm = {"slurm", build_argv_unused, slurm_after_exit};

void ep__sup_slurm_close(ep_sup_replica *r) {
  if (r->sbatch_running) { /* supervisor freed while sbatch runs: let it finish detached */
    uv_close((uv_handle_t *)&r->sbatch, ep__sup_on_closed);
    uv_close((uv_handle_t *)&r->sbatch_out, ep__sup_on_closed);
    r->sbatch_running = 0;
  }
}
