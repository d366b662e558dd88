/* Hardware catalog (API.md Part A §8, shape of Part B §1.7): vendor "local"
 * plus aws/azure/gcp aliases on the same local pool, cpu instance sizes
 * x1..x8 (legacy small..xlarge) mapped to threads and a memory cap. */
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
      char id[128];
      snprintf(id, sizeof id, "%s-%s-cpu-%s", k_vendors[v].vendor, k_vendors[v].region,
               k_sizes[i].name);
      json_array_append_new(
          computes,
          json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:s, s:{s:i, s:i}}", "id", id,
                    "accelerator", "cpu", "instanceType", "cpu", "instanceSize",
                    k_sizes[i].name, "architecture", arch, "numAccelerators", threads,
                    "numCpus", threads, "memoryGb", (int)(mem >> 30), "pricePerHour", 0.0,
                    "status", "available", "quota", "maxAccelerators",
                    cat->ncores * cat->max_replicas, "usedAccelerators", 0));
    }
    json_array_append_new(
        vendors, json_pack("{s:s, s:[{s:s, s:o}]}", "name", k_vendors[v].vendor, "regions",
                           "name", k_vendors[v].region, "computes", computes));
  }
  return json_pack("{s:o}", "vendors", vendors);
}
