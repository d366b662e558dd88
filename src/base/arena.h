/* ep_arena: bump allocator for request- and step-scoped memory. Everything
 * allocated from an arena is freed at once by ep_arena_free() (or recycled by
 * ep_arena_reset()). Not thread-safe; one arena per request or per step. */
#ifndef EP_BASE_ARENA_H
#define EP_BASE_ARENA_H

#include <stddef.h>

typedef struct ep_arena_block ep_arena_block;
typedef struct {
  ep_arena_block *head; /* newest block first */
  size_t block_size;    /* bytes per new block (default 16 KiB) */
} ep_arena;

void ep_arena_init(ep_arena *a, size_t block_size);
void *ep_arena_alloc(ep_arena *a, size_t n);    /* 16-byte aligned; NULL on OOM */
void *ep_arena_calloc(ep_arena *a, size_t n);
char *ep_arena_strdup(ep_arena *a, const char *s);
char *ep_arena_strndup(ep_arena *a, const char *s, size_t n);
void ep_arena_reset(ep_arena *a); /* frees all but the first block */
void ep_arena_free(ep_arena *a);

#endif
