/* Pool config parsing (sup/pool.h) and placement of an endpoint spec on a
 * Slurm pool (gw/serving_pool.c): defaults, per-size overrides, every
 * rejected input with its message, argv rewrite for runtime replicas. */
#include <jansson.h>
#include <string.h>

#include "base/err.h"
#include "gw/serving.h"
#include "sup/pool.h"
#include "test.h"

static void test_defaults(void) {
  ep_pools p;
  char err[256] = "";
  CHECK_INT(ep_pools_load(NULL, &p, err, sizeof err), EP_OK);
  CHECK_INT(p.n, 1);
  CHECK_STR(p.pools[0].name, "local");
  CHECK_INT(p.pools[0].kind, EP_POOL_LOCAL);
  ep_pools_free(&p);
  const char *cfg =
      "{\"pools\": [{\"name\": \"hpc\", \"type\": \"slurm\", \"partition\": \"gpu\","
      " \"account\": \"a1\", \"qos\": \"high\", \"time\": \"1-00:00:00\", \"gres\": \"gpu:1\","
      " \"shared_dir\": \"/shared/ep\", \"sbatch_args\": [\"--constraint=fast\"],"
      " \"sizes\": {\"x2\": {\"cpus\": 3, \"mem\": \"5G\"}, \"small\": {\"gres\": \"\"}}}]}";
  CHECK_INT(ep_pools_parse(cfg, &p, err, sizeof err), EP_OK);
  CHECK_INT(p.n, 2); /* local added */
  const ep_sup_pool *h = ep_pools_find(&p, "hpc");
  CHECK(h != NULL);
  CHECK(ep_pools_find(&p, "local") != NULL);
  CHECK(ep_pools_find(&p, "nope") == NULL);
  if (h) {
    CHECK_INT(h->kind, EP_POOL_SLURM);
    CHECK_STR(h->partition, "gpu");
    CHECK_STR(h->account, "a1");
    CHECK_STR(h->qos, "high");
    CHECK_STR(h->time_limit, "1-00:00:00");
    CHECK_STR(h->replica_host, "127.0.0.1");
    CHECK_INT(h->poll_ms, 1000);
    CHECK_INT(h->cpus[0], 1);
    CHECK_STR(h->mem[0], "2G");
    CHECK_STR(h->gres[0], "");
    CHECK_INT(h->cpus[1], 3);
    CHECK_STR(h->mem[1], "5G");
    CHECK_STR(h->gres[1], "gpu:1");
    CHECK_INT(h->cpus[3], 8);
    CHECK_STR(h->mem[3], "16G");
    CHECK_STR(h->extra_args[0], "--constraint=fast");
    CHECK(h->extra_args[1] == NULL);
  }
  ep_pools_free(&p);
}

static void bad(const char *cfg, const char *want) {
  ep_pools p;
  char err[256] = "";
  int rc = ep_pools_parse(cfg, &p, err, sizeof err);
  CHECK_INT(rc, EP_EPARSE);
  if (!strstr(err, want)) fprintf(stderr, "message '%s' lacks '%s'\n", err, want);
  CHECK(strstr(err, want) != NULL);
}

static void test_rejects(void) {
  bad("{", "invalid JSON");
  bad("[]", "expected");
  bad("{\"pool\": []}", "unknown key 'pool'");
  bad("{\"pools\": [1]}", "not an object");
  bad("{\"pools\": [{\"name\": \"Bad Name\", \"type\": \"slurm\"}]}", "label");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"k8s\"}]}", "\"local\" or \"slurm\"");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\"}]}", "shared_dir");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"rel\"}]}",
      "shared_dir");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", \"partiton\": "
      "\"x\"}]}",
      "unknown key 'partiton'");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", \"qos\": 3}]}",
      "'qos' must be");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", \"account\": "
      "\"a\\nb\"}]}",
      "'account' must be");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", \"sizes\": "
      "{\"x3\": {}}}]}",
      "unknown size");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", \"sizes\": "
      "{\"x1\": {\"cpus\": 0}}}]}",
      "cpus must be");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", \"sizes\": "
      "{\"x1\": {\"cpu\": 2}}}]}",
      "unknown key 'cpu'");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", "
      "\"sbatch_args\": \"-x\"}]}",
      "sbatch_args");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\", \"poll_ms\": "
      "1}]}",
      "poll_ms");
  bad("{\"pools\": [{\"name\": \"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\"}, {\"name\": "
      "\"h\", \"type\": \"slurm\", \"shared_dir\": \"/s\"}]}",
      "defined twice");
  bad("{\"pools\": [{\"name\": \"local\", \"type\": \"slurm\", \"shared_dir\": \"/s\"}]}",
      "type local");
  bad("{\"pools\": [{\"name\": \"local\", \"partition\": \"x\"}]}", "local pool takes only");
}

static void test_place(void) {
  ep_pools p;
  char err[256];
  CHECK_INT(ep_pools_parse("{\"pools\": [{\"name\": \"hpc\", \"type\": \"slurm\", \"shared_dir\": "
                           "\"/s\", \"sizes\": {\"x2\": {\"cpus\": 6}}}]}",
                           &p, err, sizeof err),
            EP_OK);
  ep_serving_spec ss;
  memset(&ss, 0, sizeof ss);
  const char *v[] = {"/bin/endpointd", "runtime", "--port", "{port}", "--unix", "{unix}",
                     "--threads",      "2",       "--parent-pid", "77", "--task", "t", NULL};
  for (int i = 0; v[i]; i++) ss.argv[i] = strdup(v[i]);
  ss.spec.backend = EP_SUP_LOCAL;
  json_t *spec =
      json_pack("{s:{s:s}, s:{s:s}}", "provider", "region", "hpc", "compute", "instanceSize", "x2");
  ep_serving_spec_place(&ss, spec, &p);
  CHECK_INT(ss.spec.backend, EP_SUP_SLURM);
  CHECK(ss.spec.pool == ep_pools_find(&p, "hpc"));
  CHECK_STR(ss.spec.instance_size, "x2");
  const char *want[] = {"/bin/endpointd", "runtime", "--port", "{port}", "--threads", "6",
                        "--task",         "t",       NULL};
  for (int i = 0; want[i]; i++) CHECK_STR(ss.argv[i], want[i]);
  CHECK(ss.argv[8] == NULL && ss.argv[9] == NULL);
  json_decref(spec);
  ep_serving_spec_clear(&ss);
  /* other regions stay local; container images are refused on Slurm */
  memset(&ss, 0, sizeof ss);
  ss.spec.backend = EP_SUP_CONTAINER;
  spec = json_pack("{s:{s:s}}", "provider", "region", "us-east-1");
  ep_serving_spec_place(&ss, spec, &p);
  CHECK_INT(ss.spec.backend, EP_SUP_CONTAINER);
  CHECK(ss.spec.pool == NULL);
  json_decref(spec);
  spec = json_pack("{s:{s:s}}", "provider", "region", "hpc");
  ep_serving_spec_place(&ss, spec, &p);
  CHECK(ss.spec.config_error && strstr(ss.spec.config_error, "cannot run on the Slurm pool"));
  json_decref(spec);
  ep_serving_spec_clear(&ss);
  ep_pools_free(&p);
}

int main(void) {
  test_defaults();
  test_rejects();
  test_place();
  return t_finish();
}
