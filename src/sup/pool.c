/* Pool config parsing (pool.h): {"pools": [{"name": ..., "type": "local" |
 * "slurm", ...}]}. Every key is checked; unknown keys and bad values are
 * errors with a message naming the pool and key, so a typo never silently
 * changes where replicas run. The `local` pool always exists. */
#include "sup/pool.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static const char *const k_sizes[EP_POOL_SIZES][2] = {
    {"x1", "small"}, {"x2", "medium"}, {"x4", "large"}, {"x8", "xlarge"}};

int ep_pool_size_index(const char *size) {
  for (int i = 0; size && i < EP_POOL_SIZES; i++)
    if (!strcmp(size, k_sizes[i][0]) || !strcmp(size, k_sizes[i][1])) return i;
  return -1;
}

static int label_ok(const char *s) {
  if (!*s || strlen(s) > 63) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) return 0;
  return 1;
}

/* A string option: printable, no newline, fits. */
static int get_str(json_t *o, const char *key, char *dst, size_t dsz, const char *pool, char *err,
                   size_t errsz) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0;
  const char *s = json_string_value(v);
  if (!s || strlen(s) >= dsz || strpbrk(s, "\r\n")) {
    snprintf(err, errsz, "pool '%s': '%s' must be a one-line string of at most %zu bytes", pool,
             key, dsz - 1);
    return -1;
  }
  snprintf(dst, dsz, "%s", s);
  return 0;
}

static int parse_sizes(ep_sup_pool *p, json_t *sizes, char *err, size_t errsz) {
  if (!sizes) return 0;
  if (!json_is_object(sizes)) {
    snprintf(err, errsz, "pool '%s': 'sizes' must be an object", p->name);
    return -1;
  }
  const char *k;
  json_t *v;
  json_object_foreach(sizes, k, v) {
    int i = ep_pool_size_index(k);
    if (i < 0 || !json_is_object(v)) {
      snprintf(err, errsz, "pool '%s': sizes.%s: unknown size (x1 x2 x4 x8) or not an object",
               p->name, k);
      return -1;
    }
    const char *sk;
    json_t *sv;
    json_object_foreach(v, sk, sv) {
      if (strcmp(sk, "cpus") && strcmp(sk, "mem") && strcmp(sk, "gres")) {
        snprintf(err, errsz, "pool '%s': sizes.%s: unknown key '%s' (cpus, mem, gres)", p->name, k,
                 sk);
        return -1;
      }
    }
    json_t *c = json_object_get(v, "cpus");
    if (c) {
      if (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > 4096) {
        snprintf(err, errsz, "pool '%s': sizes.%s.cpus must be an integer 1..4096", p->name, k);
        return -1;
      }
      p->cpus[i] = (int)json_integer_value(c);
    }
    if (get_str(v, "mem", p->mem[i], sizeof p->mem[i], p->name, err, errsz) ||
        get_str(v, "gres", p->gres[i], sizeof p->gres[i], p->name, err, errsz))
      return -1;
  }
  return 0;
}

static const char *const k_slurm_keys[] = {
    "name",         "type",        "partition", "account", "qos",     "time", "shared_dir",
    "replica_host", "sbatch_args", "sizes",     "gres",    "poll_ms", NULL};

static int parse_pool(ep_sup_pool *p, json_t *o, char *err, size_t errsz) {
  const char *name = json_string_value(json_object_get(o, "name"));
  const char *type = json_string_value(json_object_get(o, "type"));
  if (!name || !label_ok(name)) {
    snprintf(err, errsz, "pools[]: 'name' must be a label of [a-z0-9_-] (1-63 chars)");
    return -1;
  }
  snprintf(p->name, sizeof p->name, "%s", name);
  if (!type) type = !strcmp(name, "local") ? "local" : "";
  if (!strcmp(type, "local")) {
    p->kind = EP_POOL_LOCAL;
    if (json_object_size(o) > 2 || (json_object_size(o) == 2 && !json_object_get(o, "type"))) {
      snprintf(err, errsz, "pool '%s': a local pool takes only 'name' and 'type'", name);
      return -1;
    }
    return 0;
  }
  if (strcmp(type, "slurm")) {
    snprintf(err, errsz, "pool '%s': 'type' must be \"local\" or \"slurm\"", name);
    return -1;
  }
  p->kind = EP_POOL_SLURM;
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    int known = 0;
    for (int i = 0; k_slurm_keys[i]; i++) known |= !strcmp(k, k_slurm_keys[i]);
    if (!known) {
      snprintf(err, errsz, "pool '%s': unknown key '%s'", name, k);
      return -1;
    }
  }
  snprintf(p->replica_host, sizeof p->replica_host, "127.0.0.1");
  char gres[64] = "";
  if (get_str(o, "partition", p->partition, sizeof p->partition, name, err, errsz) ||
      get_str(o, "account", p->account, sizeof p->account, name, err, errsz) ||
      get_str(o, "qos", p->qos, sizeof p->qos, name, err, errsz) ||
      get_str(o, "time", p->time_limit, sizeof p->time_limit, name, err, errsz) ||
      get_str(o, "shared_dir", p->shared_dir, sizeof p->shared_dir, name, err, errsz) ||
      get_str(o, "replica_host", p->replica_host, sizeof p->replica_host, name, err, errsz) ||
      get_str(o, "gres", gres, sizeof gres, name, err, errsz))
    return -1;
  if (p->shared_dir[0] != '/') {
    snprintf(err, errsz,
             "pool '%s': 'shared_dir' (an absolute path on storage shared with the "
             "compute nodes) is required",
             name);
    return -1;
  }
  for (int i = 0; i < EP_POOL_SIZES; i++) {
    p->cpus[i] = 1 << i;
    snprintf(p->mem[i], sizeof p->mem[i], "%dG", 2 << i);
    snprintf(p->gres[i], sizeof p->gres[i], "%s", gres);
  }
  if (parse_sizes(p, json_object_get(o, "sizes"), err, errsz)) return -1;
  json_t *args = json_object_get(o, "sbatch_args");
  if (args && !json_is_array(args)) {
    snprintf(err, errsz, "pool '%s': 'sbatch_args' must be an array of strings", name);
    return -1;
  }
  size_t i;
  json_array_foreach(args, i, v) {
    const char *s = json_string_value(v);
    if (!s || i >= 15 || strpbrk(s, "\r\n")) {
      snprintf(err, errsz, "pool '%s': 'sbatch_args' must be at most 15 one-line strings", name);
      return -1;
    }
    p->extra_args[i] = strdup(s);
  }
  json_t *pm = json_object_get(o, "poll_ms");
  p->poll_ms = 1000;
  if (pm) {
    if (!json_is_integer(pm) || json_integer_value(pm) < 50 || json_integer_value(pm) > 600000) {
      snprintf(err, errsz, "pool '%s': 'poll_ms' must be an integer 50..600000", name);
      return -1;
    }
    p->poll_ms = (unsigned)json_integer_value(pm);
  }
  return 0;
}

void ep_pools_free(ep_pools *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++)
    for (int k = 0; p->pools[i].extra_args[k]; k++) free(p->pools[i].extra_args[k]);
  free(p->pools);
  p->pools = NULL;
  p->n = 0;
}

static int parse_root(json_t *root, ep_pools *out, char *err, size_t errsz) {
  json_t *arr = json_object_get(root, "pools");
  if (!json_is_object(root) || (arr && !json_is_array(arr))) {
    snprintf(err, errsz, "config: expected {\"pools\": [ ... ]}");
    return EP_EPARSE;
  }
  const char *k;
  json_t *v;
  json_object_foreach(root, k, v) {
    if (strcmp(k, "pools")) {
      snprintf(err, errsz, "config: unknown key '%s'", k);
      return EP_EPARSE;
    }
  }
  size_t n = json_array_size(arr);
  out->pools = calloc(n + 1, sizeof *out->pools);
  if (!out->pools) return EP_ENOMEM;
  out->n = 0;
  int have_local = 0;
  size_t i;
  json_array_foreach(arr, i, v) {
    if (!json_is_object(v)) {
      snprintf(err, errsz, "config: pools[%zu] is not an object", i);
      ep_pools_free(out);
      return EP_EPARSE;
    }
    ep_sup_pool *p = &out->pools[out->n++];
    if (parse_pool(p, v, err, errsz)) {
      ep_pools_free(out);
      return EP_EPARSE;
    }
    for (size_t j = 0; j + 1 < out->n; j++)
      if (!strcmp(out->pools[j].name, p->name)) {
        snprintf(err, errsz, "config: pool '%s' is defined twice", p->name);
        ep_pools_free(out);
        return EP_EPARSE;
      }
    if (!strcmp(p->name, "local")) {
      if (p->kind != EP_POOL_LOCAL) {
        snprintf(err, errsz, "config: the pool named 'local' must be of type local");
        ep_pools_free(out);
        return EP_EPARSE;
      }
      have_local = 1;
    }
  }
  if (!have_local) {
    ep_sup_pool *p = &out->pools[out->n++];
    snprintf(p->name, sizeof p->name, "local");
    p->kind = EP_POOL_LOCAL;
  }
  return EP_OK;
}

int ep_pools_parse(const char *text, ep_pools *out, char *err, size_t errsz) {
  memset(out, 0, sizeof *out);
  json_error_t je;
  json_t *root = json_loads(text ? text : "{}", 0, &je);
  if (!root) {
    snprintf(err, errsz, "config: invalid JSON at line %d: %s", je.line, je.text);
    return EP_EPARSE;
  }
  int rc = parse_root(root, out, err, errsz);
  json_decref(root);
  return rc;
}

int ep_pools_load(const char *path, ep_pools *out, char *err, size_t errsz) {
  memset(out, 0, sizeof *out);
  if (!path) return ep_pools_parse("{}", out, err, errsz);
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) {
    snprintf(err, errsz, "config %s: %s (line %d)", path, je.text, je.line);
    return EP_EPARSE;
  }
  int rc = parse_root(root, out, err, errsz);
  json_decref(root);
  return rc;
}

const ep_sup_pool *ep_pools_find(const ep_pools *p, const char *name) {
  for (size_t i = 0; p && name && i < p->n; i++)
    if (!strcmp(p->pools[i].name, name)) return &p->pools[i];
  return NULL;
}
