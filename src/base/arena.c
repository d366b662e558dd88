/* Bump allocator over a linked list of blocks; see arena.h. */
#include "base/arena.h"

#include <stdlib.h>
#include <string.h>

struct ep_arena_block {
  ep_arena_block *next;
  size_t used, cap;
  _Alignas(16) unsigned char mem[];
};

void ep_arena_init(ep_arena *a, size_t block_size) {
  a->head = NULL;
  a->block_size = block_size ? block_size : 16384;
}

void *ep_arena_alloc(ep_arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  ep_arena_block *b = a->head;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > a->block_size ? n : a->block_size;
    b = malloc(sizeof(*b) + cap);
    if (!b) return NULL;
    b->used = 0;
    b->cap = cap;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->mem + b->used;
  b->used += n;
  return p;
}

void *ep_arena_calloc(ep_arena *a, size_t n) {
  void *p = ep_arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

char *ep_arena_strndup(ep_arena *a, const char *s, size_t n) {
  char *p = ep_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *ep_arena_strdup(ep_arena *a, const char *s) { return ep_arena_strndup(a, s, strlen(s)); }

void ep_arena_reset(ep_arena *a) {
  ep_arena_block *b = a->head;
  if (!b) return;
  while (b->next) {
    ep_arena_block *n = b->next;
    b->next = n->next;
    free(n);
  }
  b->used = 0;
}

void ep_arena_free(ep_arena *a) {
  ep_arena_block *b = a->head;
  while (b) {
    ep_arena_block *n = b->next;
    free(b);
    b = n;
  }
  a->head = NULL;
}
