/* Endpoint spec at the JSON edge: validation of create bodies, the PUT deep
 * merge (API.md Part A §5), the hardware catalog (Part A §8) and rendering of
 * the Endpoint object (Part B §1.1). Pure functions over jansson values; no
 * I/O, so they are unit-tested directly.
 *
 * Canonical spec: the object stored in endpoints.spec, with keys type,
 * accountId, provider, compute, model and optional route, cacheHttpResponses,
 * tags, healthRoute. Secret values are stored, never rendered. */
#ifndef EP_CTL_SPEC_H
#define EP_CTL_SPEC_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
  int ncores;           /* CPU threads available to replicas */
  int64_t mem_bytes;    /* memory available to replicas */
  int gpu;              /* 1 when a GPU backend is usable */
  int max_replicas;     /* cap for maxReplica (default 8) */
} ep_catalog;

ep_catalog ep_catalog_detect(void); /* cores and memory of this machine, no GPU */

typedef struct {
  int status;     /* HTTP status: 400 invalid, 422 unsupported */
  char msg[256];
} ep_spec_err;

/* Placeholder shown instead of secret values. */
#define EP_SECRET_REDACTED "********"

/* Create: validates body (a JSON object) and returns a new canonical spec
 * (caller owns the reference) or NULL with *err filled. The endpoint name is
 * checked too and returned in name_out (>= EP_NAME_MAX bytes). */
json_t *ep_spec_from_create(const ep_catalog *cat, json_t *body, char *name_out,
                            ep_spec_err *err);
/* Update: returns a new canonical spec = deep merge of patch into spec (absent
 * and null = unchanged; model.image exactly {"huggingface": {}} = unchanged;
 * image, measure, env, secrets, tags, command, args replaced whole; a
 * redacted secret value keeps the stored one), validated. NULL + *err on
 * failure. */
json_t *ep_spec_apply_update(const ep_catalog *cat, json_t *spec, json_t *patch,
                             const char *name, ep_spec_err *err);
/* In-place deep merge with the rules above (exposed for tests). */
void ep_spec_merge(json_t *dst, json_t *patch);
/* Validates a canonical spec (fills defaults in place). 0 or -1 + *err. */
int ep_spec_validate(const ep_catalog *cat, json_t *spec, ep_spec_err *err);
/* 1 when the task is one endpointd knows, 0 otherwise. */
int ep_spec_task_known(const char *task);

/* Top-level healthRoute: spec.healthRoute, else the image variant's
 * healthRoute / health_route, else "/health". Borrowed from spec. */
const char *ep_spec_health_route(json_t *spec);

/* The Endpoint JSON of a row. origin like "http://127.0.0.1:8080" (no slash).
 * spec may be NULL (parsed from row->spec). Returns a new reference. */
json_t *ep_spec_render(const ep_endpoint_row *row, json_t *spec, const char *origin);
/* Default status.message for a state. */
const char *ep_spec_state_message(const char *state);
/* 1 when status.url is shown in this state. */
int ep_spec_state_has_url(const char *state);

/* Instance size -> threads per replica (capped by cores) and memory cap.
 * Accepts x1 x2 x4 x8 and small medium large xlarge. 0 or -1 when unknown. */
int ep_catalog_instance(const ep_catalog *cat, const char *size, int *threads,
                        int64_t *mem_bytes);
/* 1 for local, aws, azure, gcp. */
int ep_catalog_vendor_known(const char *vendor);
/* Extra regions (the daemon's Slurm pools, sup/pool.h) listed under every
 * vendor next to its local region, with per-size cpus and memory. Set once
 * at start-up; the array is copied (at most 32 pools). */
typedef struct {
  const char *name;
  int cpus[4];   /* x1 x2 x4 x8 */
  int mem_gb[4];
} ep_catalog_pool;
void ep_catalog_set_pools(const ep_catalog_pool *pools, size_t n);
/* {"vendors": [...]} of Part B §1.7. New reference. */
json_t *ep_catalog_json(const ep_catalog *cat);

#endif
