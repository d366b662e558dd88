/* Cache of rendered Endpoint JSON texts for list responses: keyed by endpoint
 * id and validated by a fingerprint of the rendered inputs (revision and
 * updated_at for the spec, status fields, origin), so a stale entry is never
 * served as long as spec writes go through ep_store_endpoint_update. Keeps
 * GET /v2/endpoint/{ns} with 1,000 endpoints in single-digit milliseconds.
 * Owned by ep_ctl; loop thread only. */
#ifndef EP_CTL_RENDER_CACHE_H
#define EP_CTL_RENDER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct ep_render_cache ep_render_cache;

ep_render_cache *ep_render_cache_new(void);
void ep_render_cache_free(ep_render_cache *c);
/* Rendered compact JSON of row (borrowed; valid until the next call for the
 * same id). Renders and stores it on a miss. NULL on OOM. */
const char *ep_render_cache_get(ep_render_cache *c, const ep_endpoint_row *row,
                                const char *origin, size_t *len);
void ep_render_cache_drop(ep_render_cache *c, int64_t id);

#endif
