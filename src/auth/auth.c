/* Token hashing, generation, authentication and access checks (see auth.h),
 * and the data plane's short-lived cache of checked tokens. The secret key
 * never leaves this file; token texts are never logged (the cache keys on
 * the keyed hash). */
#include "auth/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

#define CACHE_SLOTS 64 /* direct-mapped by the token hash */

/* A token the store said was valid at checked_at, with the last namespace
 * access answer for it. */
typedef struct {
  int used;
  unsigned char hash[EP_TOKEN_HASH_BYTES];
  int64_t checked_at;
  ep_principal p;
  char ns[EP_NAME_MAX];
  int ns_ok; /* ep_auth_ns_access() for ns: 1 or 0 */
} cache_slot;

struct ep_auth {
  ep_store *st;
  unsigned char key[EP_AUTH_KEY_BYTES];
  unsigned cache_ttl_ms;
  cache_slot cache[CACHE_SLOTS];
};

int ep_auth_open_with_key(ep_store *st, const unsigned char key[EP_AUTH_KEY_BYTES],
                          ep_auth **out) {
  *out = NULL;
  if (sodium_init() < 0) return EP_EIO;
  ep_auth *a = calloc(1, sizeof *a);
  if (!a) return EP_ENOMEM;
  a->st = st;
  a->cache_ttl_ms = EP_AUTH_CACHE_TTL_MS;
  memcpy(a->key, key, EP_AUTH_KEY_BYTES);
  *out = a;
  return EP_OK;
}

/* Reads exactly n bytes of the key file, or creates it (0600) with random bytes. */
static int load_or_create_key(const char *path, unsigned char *key) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, key, EP_AUTH_KEY_BYTES);
    close(fd);
    return n == EP_AUTH_KEY_BYTES ? EP_OK : EP_ECORRUPT;
  }
  if (errno != ENOENT) return EP_EIO;
  randombytes_buf(key, EP_AUTH_KEY_BYTES);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return EP_EIO;
  ssize_t n = write(fd, key, EP_AUTH_KEY_BYTES);
  int ok = n == EP_AUTH_KEY_BYTES && fsync(fd) == 0;
  close(fd);
  return ok ? EP_OK : EP_EIO;
}

int ep_auth_open(ep_store *st, const char *key_path, ep_auth **out) {
  *out = NULL;
  if (sodium_init() < 0) return EP_EIO;
  unsigned char key[EP_AUTH_KEY_BYTES];
  if (key_path) {
    int err = load_or_create_key(key_path, key);
    if (err) return err;
  } else {
    randombytes_buf(key, sizeof key);
  }
  int err = ep_auth_open_with_key(st, key, out);
  sodium_memzero(key, sizeof key);
  return err;
}

void ep_auth_free(ep_auth *a) {
  if (!a) return;
  sodium_memzero(a->key, sizeof a->key);
  sodium_memzero(a->cache, sizeof a->cache);
  free(a);
}

ep_store *ep_auth_store(ep_auth *a) { return a->st; }

void ep_auth_token_hash(const ep_auth *a, const char *text,
                        unsigned char out[EP_TOKEN_HASH_BYTES]) {
  crypto_generichash(out, EP_TOKEN_HASH_BYTES, (const unsigned char *)text, strlen(text), a->key,
                     sizeof a->key);
}

int ep_auth_hash_equal(const unsigned char a[EP_TOKEN_HASH_BYTES],
                       const unsigned char b[EP_TOKEN_HASH_BYTES]) {
  return sodium_memcmp(a, b, EP_TOKEN_HASH_BYTES) == 0;
}

void ep_auth_token_generate(char *out, size_t outsz) {
  unsigned char raw[32];
  char hex[65];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  snprintf(out, outsz, EP_TOKEN_PREFIX "%s", hex);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(hex, sizeof hex);
}

static int role_valid(const char *role) {
  return role && (!strcmp(role, "read") || !strcmp(role, "write"));
}

static int store_token(ep_auth *a, int64_t user_id, const char *display_name, const char *role,
                       const char *text, int64_t expires_at, int64_t now, ep_token_row *row_out) {
  ep_token_row t;
  memset(&t, 0, sizeof t);
  t.user_id = user_id;
  snprintf(t.display_name, sizeof t.display_name, "%s", display_name ? display_name : "");
  snprintf(t.role, sizeof t.role, "%s", role);
  ep_auth_token_hash(a, text, t.hash);
  t.created_at = now;
  t.expires_at = expires_at;
  int err = ep_store_token_insert(a->st, &t, &t.id);
  if (!err && row_out) *row_out = t;
  return err;
}

int ep_auth_token_create(ep_auth *a, int64_t user_id, const char *display_name, const char *role,
                         int64_t expires_at, int64_t now, char *text_out, size_t text_sz,
                         ep_token_row *row_out) {
  if (!role_valid(role) || text_sz < EP_TOKEN_TEXT_MAX) return EP_EINVAL;
  ep_auth_token_generate(text_out, text_sz);
  int err = store_token(a, user_id, display_name, role, text_out, expires_at, now, row_out);
  if (err) sodium_memzero(text_out, text_sz);
  return err;
}

int ep_auth_token_import(ep_auth *a, int64_t user_id, const char *display_name, const char *role,
                         const char *text, int64_t now) {
  if (!role_valid(role) || !text || strlen(text) < 8) return EP_EINVAL;
  unsigned char h[EP_TOKEN_HASH_BYTES];
  ep_token_row t;
  ep_auth_token_hash(a, text, h);
  int err = ep_store_token_find_by_hash(a->st, h, &t);
  if (err == EP_OK) return EP_OK;
  if (err != EP_ENOTFOUND) return err;
  return store_token(a, user_id, display_name, role, text, 0, now, NULL);
}

int ep_auth_authenticate(ep_auth *a, const char *bearer, int64_t now, ep_principal *out) {
  memset(out, 0, sizeof *out);
  if (!bearer || !*bearer || strlen(bearer) > 512) return EP_EUNAUTH;
  unsigned char h[EP_TOKEN_HASH_BYTES];
  ep_auth_token_hash(a, bearer, h);
  int err = ep_store_token_find_by_hash(a->st, h, &out->token);
  if (err == EP_ENOTFOUND) return EP_EUNAUTH;
  if (err) return err;
  if (!ep_auth_hash_equal(h, out->token.hash)) return EP_EUNAUTH;
  if (out->token.revoked_at) return EP_EUNAUTH;
  if (out->token.expires_at && out->token.expires_at <= now) return EP_EUNAUTH;
  err = ep_store_user_get(a->st, out->token.user_id, &out->user);
  if (err == EP_ENOTFOUND) return EP_EUNAUTH;
  if (err) return err;
  /* last_used_at at most once a second per token keeps hot paths write-light */
  if (now - out->token.last_used_at >= 1000) {
    ep_store_token_touch(a->st, out->token.id, now);
    out->token.last_used_at = now;
  }
  return EP_OK;
}

int ep_auth_ns_access(ep_auth *a, const ep_principal *p, const char *ns) {
  if (!strcmp(p->user.name, ns)) return 1;
  if (p->user.is_admin) return 1;
  return ep_store_member_check(a->st, p->user.id, ns);
}

int ep_auth_can_write(const ep_principal *p) { return !strcmp(p->token.role, "write"); }

void ep_auth_cache_clear(ep_auth *a) { sodium_memzero(a->cache, sizeof a->cache); }

void ep_auth_set_cache_ttl(ep_auth *a, unsigned ms) {
  a->cache_ttl_ms = ms;
  ep_auth_cache_clear(a);
}

/* The slot for a valid token: fresh from the cache, or read from the store
 * (and cached). NULL with *err = EP_EUNAUTH or a store error otherwise. */
static cache_slot *token_slot(ep_auth *a, const char *bearer, int64_t now, int *err) {
  unsigned char h[EP_TOKEN_HASH_BYTES];
  ep_auth_token_hash(a, bearer, h);
  cache_slot *s = &a->cache[h[0] % CACHE_SLOTS];
  if (a->cache_ttl_ms && s->used && ep_auth_hash_equal(s->hash, h) && now >= s->checked_at &&
      now - s->checked_at < (int64_t)a->cache_ttl_ms) {
    if (s->p.token.expires_at && s->p.token.expires_at <= now) {
      *err = EP_EUNAUTH; /* expiry is exact, cached or not */
      return NULL;
    }
    return s;
  }
  ep_principal p;
  *err = ep_auth_authenticate(a, bearer, now, &p);
  if (*err) {
    if (s->used && ep_auth_hash_equal(s->hash, h)) s->used = 0;
    return NULL;
  }
  memset(s, 0, sizeof *s);
  s->used = 1;
  memcpy(s->hash, h, sizeof h);
  s->checked_at = now;
  s->p = p;
  return s;
}

int ep_auth_endpoint_access(ep_auth *a, const char *type, const char *ns, const char *bearer,
                            int64_t now) {
  if (type && !strcmp(type, "public")) return 0;
  if (!bearer || !*bearer || strlen(bearer) > 512) return 401;
  int err;
  cache_slot *s = token_slot(a, bearer, now, &err);
  if (!s) return err == EP_EUNAUTH ? 401 : err;
  if (!type || strcmp(type, "private")) return 0;
  if (!s->ns[0] || strcmp(s->ns, ns)) {
    int ok = ep_auth_ns_access(a, &s->p, ns);
    if (ok < 0) return ok;
    snprintf(s->ns, sizeof s->ns, "%s", ns);
    s->ns_ok = ok;
  }
  return s->ns_ok ? 0 : 403;
}

int ep_auth_bootstrap(ep_auth *a, const char *env_token, int64_t now, char *new_token,
                      size_t new_token_sz, int *created) {
  *created = 0;
  if (new_token_sz) new_token[0] = '\0';
  ep_user admin;
  int err = ep_store_user_get_by_name(a->st, "admin", &admin);
  int fresh = 0;
  if (err == EP_ENOTFOUND) {
    err = ep_store_user_create(a->st, "admin", "Administrator", "", 1, now, &admin.id);
    fresh = 1;
  }
  if (err) return err;
  if (env_token && *env_token)
    return ep_auth_token_import(a, admin.id, "admin (ENDPOINTD_ADMIN_TOKEN)", "write", env_token,
                                now);
  if (!fresh) return EP_OK;
  err = ep_auth_token_create(a, admin.id, "admin", "write", 0, now, new_token, new_token_sz, NULL);
  if (!err) *created = 1;
  return err;
}

int ep_auth_name_valid(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n < 1 || n > 32) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (c != '-' || i == 0)) return 0;
  }
  return 1;
}
