/* Placement of an endpoint on a pool (sup/pool.h): provider.region names the
 * pool; a Slurm pool turns the replica into a batch job (backend
 * EP_SUP_SLURM): `runtime` replicas lose --parent-pid (the job is not our
 * child) and --unix (it may run on another node: reached over TCP) and get
 * the pool's cpus for the instance size as --threads.
 * Regions that name no pool (us-east-1, local, ...) run on this machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw/serving.h"
#include "sup/pool.h"

void ep_serving_spec_place(ep_serving_spec *ss, json_t *spec, const ep_pools *pools) {
  const char *region =
      json_string_value(json_object_get(json_object_get(spec, "provider"), "region"));
  const ep_sup_pool *pool = ep_pools_find(pools, region);
  if (!pool || pool->kind != EP_POOL_SLURM) return;
  ep_sched_spec *d = &ss->spec;
  const char *size =
      json_string_value(json_object_get(json_object_get(spec, "compute"), "instanceSize"));
  d->pool = pool;
  d->instance_size = size;
  if (d->backend == EP_SUP_CONTAINER && !ss->config_error) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "custom container images cannot run on the Slurm pool '%s'; use a \"cmd:\" url or "
             "the huggingface image",
             pool->name);
    ss->config_error = strdup(msg);
    d->config_error = ss->config_error;
    return;
  }
  d->backend = EP_SUP_SLURM;
  int si = ep_pool_size_index(size);
  for (int i = 0; ss->argv[i];) {
    if ((!strcmp(ss->argv[i], "--parent-pid") || !strcmp(ss->argv[i], "--unix")) &&
        ss->argv[i + 1]) {
      free(ss->argv[i]);
      free(ss->argv[i + 1]);
      int j = i;
      for (; ss->argv[j + 2]; j++) ss->argv[j] = ss->argv[j + 2];
      ss->argv[j] = ss->argv[j + 1] = NULL;
      continue;
    }
    if (!strcmp(ss->argv[i], "--threads") && ss->argv[i + 1]) {
      char tb[16];
      snprintf(tb, sizeof tb, "%d", pool->cpus[si < 0 ? 0 : si]);
      free(ss->argv[i + 1]);
      ss->argv[i + 1] = strdup(tb);
    }
    i++;
  }
}
