/* Open-addressing map id -> (fingerprint, rendered text); see render_cache.h. */
#include "ctl/render_cache.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/spec.h"

typedef struct {
  int64_t id; /* 0 = empty slot (ids start at 1) */
  uint64_t fp;
  char *text;
  size_t len;
} entry;

struct ep_render_cache {
  entry *slots;
  size_t cap, used; /* cap is a power of two */
};

ep_render_cache *ep_render_cache_new(void) { return calloc(1, sizeof(ep_render_cache)); }

void ep_render_cache_free(ep_render_cache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->cap; i++) free(c->slots[i].text);
  free(c->slots);
  free(c);
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull; /* separator so "ab","c" != "a","bc" */
}

static uint64_t fingerprint(const ep_endpoint_row *r, const char *origin) {
  char nums[160];
  snprintf(nums, sizeof nums, "%lld|%lld|%lld|%d|%d|%d|%d", (long long)r->revision,
           (long long)r->updated_at, (long long)r->created_at, r->ready_replica,
           r->target_replica, r->paused, r->scale_to_zero);
  uint64_t h = 1469598103934665603ull;
  /* the spec text is covered by revision + updated_at: every spec write bumps both */
  const char *parts[] = {nums, r->state, r->message, r->error_message, r->url,
                         r->type, r->ns, r->name, r->created_by, r->updated_by, origin};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) h = fnv(h, parts[i] ? parts[i] : "\x01");
  return h;
}

static entry *find(ep_render_cache *c, int64_t id, int create) {
  if (create && (c->used + 1) * 2 > c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 256;
    entry *ns = calloc(ncap, sizeof *ns);
    if (!ns) return NULL;
    for (size_t i = 0; i < c->cap; i++) {
      if (!c->slots[i].id) continue;
      size_t j = (size_t)c->slots[i].id * 11400714819323198485ull & (ncap - 1);
      while (ns[j].id) j = (j + 1) & (ncap - 1);
      ns[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
  }
  if (!c->cap) return NULL;
  size_t j = (size_t)id * 11400714819323198485ull & (c->cap - 1);
  while (c->slots[j].id && c->slots[j].id != id) j = (j + 1) & (c->cap - 1);
  if (c->slots[j].id == id) return &c->slots[j];
  if (!create) return NULL;
  c->slots[j].id = id;
  c->used++;
  return &c->slots[j];
}

const char *ep_render_cache_get(ep_render_cache *c, const ep_endpoint_row *row,
                                const char *origin, size_t *len) {
  uint64_t fp = fingerprint(row, origin);
  entry *e = find(c, row->id, 1);
  if (!e) return NULL;
  if (e->text && e->fp == fp) {
    *len = e->len;
    return e->text;
  }
  json_t *j = ep_spec_render(row, NULL, origin);
  char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!t) return NULL;
  free(e->text);
  e->text = t;
  e->len = strlen(t);
  e->fp = fp;
  *len = e->len;
  return t;
}

void ep_render_cache_drop(ep_render_cache *c, int64_t id) {
  entry *e = find(c, id, 0);
  if (!e) return;
  free(e->text); /* keep the slot (tombstone by id) so probe chains stay intact */
  e->text = NULL;
}
