/* Replica pools from the daemon's config file (JSON): the default `local`
 * pool (processes/containers on this machine) and any number of `slurm`
 * pools (replicas run as Slurm batch jobs). A pool is what an endpoint's
 * provider.region names. Parsed once at start-up; the ep_pools object is
 * owned by the daemon and outlives the supervisor (replicas borrow pools). */
#ifndef EP_SUP_POOL_H
#define EP_SUP_POOL_H

#include <stddef.h>

typedef enum { EP_POOL_LOCAL = 0, EP_POOL_SLURM = 1 } ep_pool_kind;

#define EP_POOL_SIZES 4 /* x1 x2 x4 x8 */

typedef struct ep_sup_pool {
  char name[64];
  ep_pool_kind kind;
  /* slurm */
  char partition[64], account[64], qos[64], time_limit[32];
  char shared_dir[1024];        /* port files, job output, job scripts (must be shared) */
  char replica_host[64];        /* "127.0.0.1" (default) or "node": the job's first IPv4 */
  char *extra_args[16];         /* extra sbatch arguments, NULL-terminated */
  int cpus[EP_POOL_SIZES];      /* --cpus-per-task per instance size */
  char mem[EP_POOL_SIZES][16];  /* --mem per instance size ("2G") */
  char gres[EP_POOL_SIZES][64]; /* --gres per instance size ("" = none) */
  unsigned poll_ms;             /* squeue poll interval (default 1000) */
} ep_sup_pool;

typedef struct ep_pools_s {
  ep_sup_pool *pools;
  size_t n;
} ep_pools;

/* Parses the config file at path (NULL: only the local pool). On error
 * returns an ep_err and writes a message to err. */
int ep_pools_load(const char *path, ep_pools *out, char *err, size_t errsz);
/* Same, from JSON text (unit tests). */
int ep_pools_parse(const char *text, ep_pools *out, char *err, size_t errsz);
void ep_pools_free(ep_pools *p);
/* Pool by name, NULL if none. */
const ep_sup_pool *ep_pools_find(const ep_pools *p, const char *name);
/* Index of an instance size (x1/small .. x8/xlarge), -1 if unknown. */
int ep_pool_size_index(const char *size);

#endif
