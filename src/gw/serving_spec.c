/* Stored endpoint (row + canonical spec JSON) -> reconciler desired state:
 * min/max/idle knobs, and the replica command: `endpointd runtime` for
 * huggingface images on a local model folder, `podman run IMAGE` for custom
 * images, or a plain command for custom urls of the form "cmd:<command>"
 * (run with /bin/sh -c "exec <command>"; {port} is replaced by the replica
 * port, which is also in $PORT, and {unix}, if present, by a Unix socket path
 * the gateway then uses). The runtime always gets --unix {unix}. Hub ids arrive resolved by the daemon's
 * download manager. Problems become config_error text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "gw/serving.h"

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static int jint(json_t *o, const char *k, int dflt) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static int is_dir(const char *p) {
  struct stat sb;
  return p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void add_env(ep_serving_spec *s, size_t *n, json_t *obj) {
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    if (*n + 2 >= sizeof s->env / sizeof s->env[0]) return;
    if (!json_is_string(v) || strchr(k, '=')) continue;
    ep_buf b = EP_BUF_INIT;
    ep_buf_printf(&b, "%s=%s", k, json_string_value(v));
    s->env[(*n)++] = ep_buf_steal(&b);
  }
}

static void set_error(ep_serving_spec *s, const char *fmt, const char *arg) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, arg ? arg : "");
  free(s->config_error);
  s->config_error = strdup(msg);
}

void ep_serving_spec_build(const ep_endpoint_row *row, json_t *spec, const char *self_exe,
                           int ncores, const ep_serving_model *mres, ep_serving_spec *s) {
  memset(s, 0, sizeof *s);
  ep_sched_spec *d = &s->spec;
  d->revision = row->revision;
  d->paused = row->paused;
  d->scale_to_zero = row->scale_to_zero;
  json_t *compute = json_object_get(spec, "compute");
  json_t *scaling = json_object_get(compute, "scaling");
  d->min_replica = jint(scaling, "minReplica", 1);
  d->max_replica = jint(scaling, "maxReplica", d->min_replica > 1 ? d->min_replica : 1);
  d->scale_to_zero_timeout = jint(scaling, "scaleToZeroTimeout", 0);
  json_t *model = json_object_get(spec, "model");
  json_t *image = json_object_get(model, "image");
  json_t *custom = json_object_get(image, "custom");
  const char *repo = jstr(model, "repository");
  const char *task = jstr(model, "task");
  if (mres && mres->dir) repo = mres->dir; /* resolved from the model store / HF cache */
  size_t nenv = 0;
  add_env(s, &nenv, json_object_get(model, "env"));
  add_env(s, &nenv, json_object_get(model, "secrets"));
  const char *health = jstr(spec, "healthRoute");
  if (json_is_object(custom)) {
    const char *h = jstr(custom, "healthRoute");
    if (!h) h = jstr(custom, "health_route");
    if (h) health = h;
  }
  s->health = strdup(health && *health ? health : "/health");
  if (is_dir(repo)) {
    s->mount_dir = realpath(repo, NULL);
    ep_buf b = EP_BUF_INIT;
    ep_buf_printf(&b, "MODEL_DIR=%s", s->mount_dir ? s->mount_dir : repo);
    if (nenv + 1 < sizeof s->env / sizeof s->env[0])
      s->env[nenv++] = ep_buf_steal(&b);
    else
      ep_buf_free(&b);
  }
  const char *url = json_is_object(custom) ? jstr(custom, "url") : NULL;
  size_t na = 0;
  if (url && !strncmp(url, "cmd:", 4)) {
    const char *cmd = url + 4;
    while (*cmd == ' ') cmd++;
    if (!*cmd) set_error(s, "custom image url 'cmd:' has no command", NULL);
    ep_buf b = EP_BUF_INIT;
    ep_buf_printf(&b, "exec %s", cmd);
    s->argv[na++] = strdup("/bin/sh");
    s->argv[na++] = strdup("-c");
    s->argv[na++] = ep_buf_steal(&b);
    d->backend = EP_SUP_LOCAL;
  } else if (url) {
    if (!*url) set_error(s, "custom image url is empty", NULL);
    s->image = strdup(url);
    d->backend = EP_SUP_CONTAINER;
  } else {
    if (mres && mres->error) {
      set_error(s, "%s", mres->error);
    } else if (mres && mres->waiting) {
      s->waiting = strdup(mres->waiting);
    } else if (!repo || !is_dir(repo)) {
      set_error(s, "model repository '%s' is not on this machine", repo ? repo : "");
    } else {
      int threads = 1;
      const char *size = jstr(compute, "instanceSize");
      static const char *const sz[][2] = {
          {"x1", "small"}, {"x2", "medium"}, {"x4", "large"}, {"x8", "xlarge"}};
      for (int i = 0; size && i < 4; i++)
        if (!strcmp(size, sz[i][0]) || !strcmp(size, sz[i][1])) threads = 1 << i;
      if (ncores > 0 && threads > ncores) threads = ncores;
      char tb[16], pb[16];
      snprintf(tb, sizeof tb, "%d", threads);
      snprintf(pb, sizeof pb, "%d", (int)getpid());
      const char *v[] = {self_exe,
                         "runtime",
                         "--model",
                         s->mount_dir ? s->mount_dir : repo,
                         "--task",
                         task && *task ? task : "text-generation",
                         "--port",
                         "{port}",
                         "--unix",
                         "{unix}",
                         "--threads",
                         tb,
                         "--parent-pid",
                         pb,
                         NULL};
      for (int i = 0; v[i]; i++) s->argv[na++] = strdup(v[i]);
    }
    d->backend = EP_SUP_LOCAL;
  }
  s->argv[na] = NULL;
  s->env[nenv] = NULL;
  d->argv = (const char *const *)s->argv;
  d->env = (const char *const *)s->env;
  d->image = s->image;
  d->mount_dir = s->mount_dir;
  d->health_route = s->health;
  d->config_error = s->config_error;
  d->waiting = s->waiting;
}

void ep_serving_spec_clear(ep_serving_spec *s) {
  for (int i = 0; s->argv[i]; i++) free(s->argv[i]);
  for (int i = 0; s->env[i]; i++) free(s->env[i]);
  free(s->image);
  free(s->mount_dir);
  free(s->health);
  free(s->config_error);
  free(s->waiting);
  memset(s, 0, sizeof *s);
}
