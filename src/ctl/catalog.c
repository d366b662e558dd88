/* Hardware catalog (API.md Part A §8, shape of Part B §1.7): vendor "local"
 * plus aws/azure/gcp aliases on the same local pool, cpu instance sizes
 * x1..x8 (legacy small..xlarge) mapped to threads and a memory cap; each
 * configured Slurm pool is one more region under every vendor. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ctl/spec.h"

ep_catalog ep_catalog_detect(void) {
  ep_catalog c;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  c.ncores = n > 0 ? (int)n : 1;
  c.mem_bytes = pages > 0 && psz > 0 ? (int64_t)pages * psz : (int64_t)4 << 30;
  c.gpu = 0;
  c.max_replicas = 8;
  return c;
}

static const struct {
  const char *name, *alias;
  int factor;
} k_sizes[] = {{"x1", "small", 1}, {"x2", "medium", 2}, {"x4", "large", 4}, {"x8", "xlarge", 8}};

int ep_catalog_instance(const ep_catalog *cat, const char *size, int *threads,
                        int64_t *mem_bytes) {
  for (size_t i = 0; i < 4; i++) {
    if (strcmp(size, k_sizes[i].name) && strcmp(size, k_sizes[i].alias)) continue;
    int f = k_sizes[i].factor;
    *threads = f < cat->ncores ? f : cat->ncores;
    if (*threads < 1) *threads = 1;
    int64_t mem = (int64_t)f * 2 * 1024 * 1024 * 1024; /* 2 GiB per x1 */
    *mem_bytes = mem < cat->mem_bytes ? mem : cat->mem_bytes;
    return 0;
  }
  return -1;
}

static const struct {
  const char *vendor, *region;
} k_vendors[] = {{"local", "local"}, {"aws", "us-east-1"}, {"azure", "eastus"},
                 {"gcp", "us-central1"}};

int ep_catalog_vendor_known(const char *vendor) {
  for (size_t i = 0; i < 4; i++)
    if (!strcmp(vendor, k_vendors[i].vendor)) return 1;
  return 0;
}

static struct {
  char name[64];
  int cpus[4], mem_gb[4];
} g_pools[32];
static size_t g_npools;

void ep_catalog_set_pools(const ep_catalog_pool *pools, size_t n) {
  g_npools = 0;
  for (size_t i = 0; i < n && i < 32; i++, g_npools++) {
    snprintf(g_pools[i].name, sizeof g_pools[i].name, "%s", pools[i].name);
    memcpy(g_pools[i].cpus, pools[i].cpus, sizeof g_pools[i].cpus);
    memcpy(g_pools[i].mem_gb, pools[i].mem_gb, sizeof g_pools[i].mem_gb);
  }
}

static json_t *compute_json(const char *vendor, const char *region, const char *size,
                            const char *arch, int cpus, int mem_gb, int quota) {
  char id[200];
  snprintf(id, sizeof id, "%s-%s-cpu-%s", vendor, region, size);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:s, s:{s:i, s:i}}", "id", id,
                   "accelerator", "cpu", "instanceType", "cpu", "instanceSize", size,
                   "architecture", arch, "numAccelerators", cpus, "numCpus", cpus, "memoryGb",
                   mem_gb, "pricePerHour", 0.0, "status", "available", "quota",
                   "maxAccelerators", quota, "usedAccelerators", 0);
}

json_t *ep_catalog_json(const ep_catalog *cat) {
  struct utsname u;
  const char *arch = uname(&u) == 0 ? u.machine : "unknown";
  json_t *vendors = json_array();
  for (size_t v = 0; v < 4; v++) {
    json_t *computes = json_array();
    for (size_t i = 0; i < 4; i++) {
      int threads;
      int64_t mem;
      ep_catalog_instance(cat, k_sizes[i].name, &threads, &mem);
      json_array_append_new(computes, compute_json(k_vendors[v].vendor, k_vendors[v].region,
                                                   k_sizes[i].name, arch, threads,
                                                   (int)(mem >> 30),
                                                   cat->ncores * cat->max_replicas));
    }
    json_t *regions =
        json_pack("[{s:s, s:o}]", "name", k_vendors[v].region, "computes", computes);
    for (size_t p = 0; p < g_npools; p++) {
      json_t *pc = json_array();
      for (size_t i = 0; i < 4; i++)
        json_array_append_new(pc, compute_json(k_vendors[v].vendor, g_pools[p].name,
                                               k_sizes[i].name, arch, g_pools[p].cpus[i],
                                               g_pools[p].mem_gb[i], 64 * g_pools[p].cpus[i]));
      json_array_append_new(regions, json_pack("{s:s, s:o}", "name", g_pools[p].name,
                                               "computes", pc));
    }
    json_array_append_new(vendors, json_pack("{s:s, s:o}", "name", k_vendors[v].vendor,
                                             "regions", regions));
  }
  return json_pack("{s:o}", "vendors", vendors);
}
