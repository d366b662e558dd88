/* Unit tests for the supervisor (src/sup): spawn the stand-in replica
 * (tests/e2e/fixtures/replica.py), probe its health until 200, capture its
 * output into the log file, stop it with SIGTERM and with SIGKILL after the
 * grace period, report crash exit codes with the last log lines, rotate logs,
 * build the podman command line of the container backend, and give a local
 * replica that asks for "{unix}" a socket under the run dir (probed there,
 * removed after a SIGKILL; stale files removed at init). */
#include "test.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err.h"
#include "base/time.h"
#include "sup/sup-impl.h"

static uv_loop_t *loop;
static ep_sup *sup;
static char dir[256], fixture[512];

typedef struct {
  int exited, status, sig, probe_status, probes;
  char last[2048];
} obs;

static void on_exit_cb(ep_sup_replica *r, int status, int sig, void *ud) {
  obs *o = ud;
  o->exited = 1;
  o->status = status;
  o->sig = sig;
  ep_sup_replica_last_lines(r, 5, o->last, sizeof o->last);
}
static void on_probe(ep_sup_replica *r, int status, void *ud) {
  (void)r;
  obs *o = ud;
  o->probe_status = status;
  o->probes++;
}

/* Runs the loop for up to ms or until *flag becomes non-zero. */
static void run_until(int *flag, unsigned ms) {
  uint64_t end = ep_mono_ms() + ms;
  while (!*flag && ep_mono_ms() < end) {
    uv_run(loop, UV_RUN_NOWAIT);
    ep_sup_reap(sup);
    usleep(2000);
  }
}

static ep_sup_replica *start(const char *const *argv, int port, obs *o, const char *log) {
  ep_sup_spec sp = {0};
  sp.key = "ns/test";
  sp.log_path = log;
  sp.argv = argv;
  static const char *env[] = {"REPLICA_TAG=tag-{port}", NULL};
  sp.env = env;
  sp.port = port;
  ep_sup_replica *r = NULL;
  CHECK_INT(ep_sup_replica_start(sup, &sp, on_exit_cb, o, &r), 0);
  return r;
}

static int wait_healthy(ep_sup_replica *r, obs *o) {
  for (int i = 0; i < 200; i++) {
    o->probe_status = -1;
    int before = o->probes;
    if (ep_sup_replica_probe(r, "/health", 500, on_probe, o) != 0) return 0;
    int done = 0;
    uint64_t end = ep_mono_ms() + 1000;
    while (o->probes == before && ep_mono_ms() < end) {
      uv_run(loop, UV_RUN_NOWAIT);
      usleep(1000);
    }
    (void)done;
    if (o->probe_status == 200) return 1;
    usleep(50000);
  }
  return 0;
}

static void test_lifecycle(void) {
  char log[512];
  snprintf(log, sizeof log, "%s/a.log", dir);
  int port = ep_sup_free_port();
  CHECK(port > 0);
  const char *argv[] = {"python3", fixture, "--port", "{port}", "--ready-after", "0.3", NULL};
  obs o = {0};
  ep_sup_replica *r = start(argv, port, &o, log);
  CHECK(r != NULL);
  if (!r) return;
  CHECK_INT(ep_sup_replica_port(r), port);
  CHECK(ep_sup_replica_pid(r) > 0);
  CHECK_INT(getpgid(ep_sup_replica_pid(r)), ep_sup_replica_pid(r)); /* own process group */
  CHECK(wait_healthy(r, &o));
  CHECK_INT(ep_sup_live(sup), 1);
  ep_sup_replica_stop(r, 3000);
  run_until(&o.exited, 5000);
  CHECK_INT(o.exited, 1);
  CHECK_INT(o.status, 0); /* clean exit on SIGTERM */
  CHECK(strstr(o.last, "got SIGTERM") != NULL);
  CHECK_INT(ep_sup_live(sup), 0);
  /* the log file has stdout and stderr lines with timestamp + replica id */
  FILE *f = fopen(log, "r");
  CHECK(f != NULL);
  char buf[8192] = "";
  if (f) {
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
  }
  char want[64];
  snprintf(want, sizeof want, "tag=tag-%d", port);
  CHECK(strstr(buf, want) != NULL); /* env with {port} substituted */
  CHECK(strstr(buf, "line to stderr") != NULL);
  CHECK(strstr(buf, "Z r") != NULL);
}

static void test_kill_after_grace(void) {
  char log[512];
  snprintf(log, sizeof log, "%s/b.log", dir);
  const char *argv[] = {"python3", fixture, "--port", "{port}", "--ignore-term", NULL};
  obs o = {0};
  ep_sup_replica *r = start(argv, ep_sup_free_port(), &o, log);
  if (!r) return;
  CHECK(wait_healthy(r, &o));
  uint64_t t0 = ep_mono_ms();
  ep_sup_replica_stop(r, 300);
  run_until(&o.exited, 5000);
  CHECK_INT(o.exited, 1);
  CHECK_INT(o.sig, SIGKILL);
  CHECK(ep_mono_ms() - t0 >= 290);
  CHECK(strstr(o.last, "ignoring SIGTERM") != NULL);
}

static void test_crash_and_exec_failure(void) {
  char log[512];
  snprintf(log, sizeof log, "%s/c.log", dir);
  const char *argv[] = {"python3", fixture, "--port", "{port}", "--exit-after", "0.2", "7", NULL};
  obs o = {0};
  ep_sup_replica *r = start(argv, ep_sup_free_port(), &o, log);
  if (!r) return;
  run_until(&o.exited, 5000);
  CHECK_INT(o.exited, 1);
  CHECK_INT(o.status, 7);
  CHECK(strstr(o.last, "fatal: stand-in exiting with code 7") != NULL);

  const char *bad[] = {"/nonexistent/replica-binary", NULL};
  obs o2 = {0};
  r = start(bad, ep_sup_free_port(), &o2, log);
  if (!r) return;
  run_until(&o2.exited, 3000);
  CHECK_INT(o2.status, 127);
  CHECK(strstr(o2.last, "exec failed") != NULL);

  /* bad spec */
  ep_sup_spec sp = {0};
  CHECK_INT(ep_sup_replica_start(sup, &sp, NULL, NULL, NULL), EP_EINVAL);
}

static void test_log_rotation(void) {
  char log[512], old[520];
  snprintf(log, sizeof log, "%s/rot.log", dir);
  snprintf(old, sizeof old, "%s.1", log);
  char line[100];
  memset(line, 'x', 99);
  line[99] = '\n';
  for (int i = 0; i < 25; i++) CHECK_INT(ep_sup_log_append(log, line, 100, 1000), 0);
  struct stat a, b;
  CHECK_INT(stat(old, &b), 0);
  CHECK_INT(stat(log, &a), 0);
  CHECK(a.st_size <= 1000);
  CHECK(b.st_size > 1000 && b.st_size <= 1100);
  CHECK_INT(ep_sup_log_append("/nonexistent-dir/x.log", "a", 1, 0), EP_EIO);
}

static void test_container_argv(void) {
  ep_sup_replica r = {0};
  r.id = 3;
  r.port = 4321;
  const char *cmd[] = {"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:{port}", NULL};
  const char *env[] = {"A=b", NULL};
  ep_sup_spec sp = {"ns/name",   "/tmp/x.log", EP_SUP_CONTAINER, cmd, env, "localhost/busybox:test",
                    "/models/m", 4321,     NULL,         NULL,             0};
  char **argv = NULL;
  CHECK_INT(ep__sup_container.build_argv(sup, &r, &sp, &argv), 0);
  ep_buf j = EP_BUF_INIT;
  for (size_t i = 0; argv && argv[i]; i++) ep_buf_printf(&j, "%s%s", i ? " " : "", argv[i]);
  const char *s = ep_buf_cstr(&j);
  CHECK(strncmp(s, "podman run --rm --init --runtime runc --ulimit nofile=1024:1024", 63) == 0);
  CHECK(strstr(s, "--network host") != NULL);
  CHECK(strstr(s, "-v /models/m:/repository:ro") != NULL);
  CHECK(strstr(s,
               "-e PORT=4321 -e A=b localhost/busybox:test /bin/busybox httpd -f -p "
               "127.0.0.1:4321") != NULL);
  CHECK(strstr(s, "--label endpointd.instance=") != NULL);
  CHECK(r.container_name && strchr(r.container_name, '/') == NULL);
  for (size_t i = 0; argv && argv[i]; i++) free(argv[i]);
  free(argv);
  free(r.container_name);
  ep_buf_free(&j);
  sp.image = NULL;
  CHECK_INT(ep__sup_container.build_argv(sup, &r, &sp, &argv), EP_EINVAL);
}

static void test_subst(void) {
  char *a = ep__sup_subst("--unix {unix} --port {port} {x}", 80, "/r/s.sock");
  CHECK_STR(a, "--unix /r/s.sock --port 80 {x}");
  free(a);
  a = ep__sup_subst_port("u={unix};p={port}", 81); /* containers, Slurm: no socket */
  CHECK_STR(a, "u=;p=81");
  free(a);
}

static void test_unix_socket(void) {
  char run[300], stale[400], plain[400];
  snprintf(run, sizeof run, "%s/run", dir);
  mkdir(run, 0700);
  snprintf(stale, sizeof stale, "%s/old.1.1.sock", run);
  snprintf(plain, sizeof plain, "%s/notasocket.sock", run);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un ua = {.sun_family = AF_UNIX};
  snprintf(ua.sun_path, sizeof ua.sun_path, "%s", stale);
  CHECK_INT(bind(fd, (struct sockaddr *)&ua, sizeof ua), 0);
  close(fd); /* a socket file nobody listens on, as a killed replica leaves */
  FILE *f = fopen(plain, "w");
  if (f) fclose(f);
  ep_sup_params p = ep_sup_default_params();
  p.run_dir = run;
  ep_sup *s2 = NULL;
  CHECK_INT(ep_sup_init(loop, &p, &s2), 0);
  struct stat st;
  CHECK(stat(stale, &st) != 0); /* removed */
  CHECK_INT(stat(plain, &st), 0); /* not a socket: left alone */
  char log[512];
  snprintf(log, sizeof log, "%s/u.log", dir);
  int port = ep_sup_free_port();
  const char *argv[] = {"python3", fixture, "--port", "{port}", "--unix", "{unix}", NULL};
  ep_sup_spec sp = {0};
  sp.key = "ns/my-ep";
  sp.log_path = log;
  sp.argv = argv;
  sp.port = port;
  obs o = {0};
  ep_sup_replica *r = NULL;
  ep_sup *keep = sup;
  sup = s2; /* run_until reaps this supervisor */
  CHECK_INT(ep_sup_replica_start(s2, &sp, on_exit_cb, &o, &r), 0);
  if (r) {
    const char *host = ep_sup_replica_host(r);
    char want[400];
    snprintf(want, sizeof want, "%s/my-ep.%d.", run, (int)getpid());
    CHECK(strncmp(host, want, strlen(want)) == 0);
    CHECK(wait_healthy(r, &o)); /* the probe goes to the socket */
    CHECK_INT(stat(host, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    char path[128];
    snprintf(path, sizeof path, "%s", host);
    ep_sup_replica_stop(r, 0); /* SIGKILL: the replica cannot remove its file */
    run_until(&o.exited, 5000);
    CHECK_INT(o.sig, SIGKILL);
    CHECK(stat(path, &st) != 0); /* the supervisor did */
  }
  sup = keep;
  ep_sup_free(s2);
  uv_run(loop, UV_RUN_NOWAIT);
  /* without a run dir, {unix} becomes "" and the replica is reached over TCP */
  obs o2 = {0};
  ep_sup_replica *r2 = start(argv, ep_sup_free_port(), &o2, log);
  if (r2) {
    CHECK_STR(ep_sup_replica_host(r2), "127.0.0.1");
    CHECK(wait_healthy(r2, &o2));
    ep_sup_replica_stop(r2, 0);
    run_until(&o2.exited, 5000);
  }
}

int main(void) {
  const char *src = getenv("EP_SOURCE_DIR");
  snprintf(fixture, sizeof fixture, "%s/tests/e2e/fixtures/replica.py", src ? src : ".");
  snprintf(dir, sizeof dir, "/tmp/ep-sup-test-%d", (int)getpid());
  mkdir(dir, 0700);
  loop = uv_default_loop();
  CHECK_INT(ep_sup_init(loop, NULL, &sup), 0);
  RUN(test_lifecycle);
  RUN(test_kill_after_grace);
  RUN(test_crash_and_exec_failure);
  RUN(test_log_rotation);
  RUN(test_container_argv);
  RUN(test_subst);
  RUN(test_unix_socket);
  ep_sup_free(sup);
  uv_run(loop, UV_RUN_DEFAULT);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) {
  }
  return t_finish();
}
