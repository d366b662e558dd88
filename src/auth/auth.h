/* Users, tokens and access checks. Tokens are 32 random bytes from libsodium,
 * shown once as "epd_" + 64 hex chars, and stored only as a keyed BLAKE2b hash
 * (crypto_generichash, 32-byte key in --home/secret.key, mode 0600). Lookup is
 * by hash, then a constant-time compare (sodium_memcmp). Token text is never
 * logged.
 *
 * Ownership: ep_auth borrows the ep_store (which must outlive it). Principals
 * are plain value structs filled by the caller-provided storage. */
#ifndef EP_AUTH_AUTH_H
#define EP_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct ep_auth ep_auth;

#define EP_TOKEN_PREFIX "epd_"
#define EP_TOKEN_TEXT_MAX 80 /* "epd_" + 64 hex + NUL fits */
#define EP_AUTH_KEY_BYTES 32

/* Loads key_path (creating it with 32 random bytes, mode 0600, when absent).
 * key_path NULL: a random in-memory key (tests). */
int ep_auth_open(ep_store *st, const char *key_path, ep_auth **out);
/* Same with an explicit key (tests). */
int ep_auth_open_with_key(ep_store *st, const unsigned char key[EP_AUTH_KEY_BYTES],
                          ep_auth **out);
void ep_auth_free(ep_auth *a);
ep_store *ep_auth_store(ep_auth *a);

/* Keyed hash of a token text (any string). */
void ep_auth_token_hash(const ep_auth *a, const char *text,
                        unsigned char out[EP_TOKEN_HASH_BYTES]);
/* 1 when the two hashes are equal; constant time. */
int ep_auth_hash_equal(const unsigned char a[EP_TOKEN_HASH_BYTES],
                       const unsigned char b[EP_TOKEN_HASH_BYTES]);
/* Fresh random token text into out (>= EP_TOKEN_TEXT_MAX bytes). */
void ep_auth_token_generate(char *out, size_t outsz);

/* Creates a token for user_id: generates the text into text_out (shown once),
 * stores its hash. role "read" or "write"; expires_at 0 = never. row_out
 * (optional) receives the stored row. */
int ep_auth_token_create(ep_auth *a, int64_t user_id, const char *display_name, const char *role,
                         int64_t expires_at, int64_t now, char *text_out, size_t text_sz,
                         ep_token_row *row_out);
/* Stores a caller-chosen token text (ENDPOINTD_ADMIN_TOKEN); no-op when a token
 * with that text already exists (EP_OK). */
int ep_auth_token_import(ep_auth *a, int64_t user_id, const char *display_name, const char *role,
                         const char *text, int64_t now);

typedef struct {
  ep_user user;
  ep_token_row token;
} ep_principal;

/* Resolves a bearer token: EP_EUNAUTH when absent, unknown, revoked or
 * expired. Updates last_used_at. */
int ep_auth_authenticate(ep_auth *a, const char *bearer, int64_t now, ep_principal *out);

/* 1 when p may act on namespace ns (own name, org membership, or admin),
 * 0 otherwise, <0 on a store error. */
int ep_auth_ns_access(ep_auth *a, const ep_principal *p, const char *ns);
int ep_auth_can_write(const ep_principal *p); /* token role is write */

/* Data plane check for an endpoint of `type` in namespace ns with the given
 * bearer (may be NULL). Returns 0 allowed, 401 or 403, <0 on a store error.
 * A valid token (its user, and its answer for the last namespace asked) is
 * cached for the cache TTL, so steady traffic does not read the store per
 * request. Bound: a token revoked, a user or membership changed behind the
 * cache's back is seen within the TTL; expiry is exact; callers that revoke
 * or change memberships call ep_auth_cache_clear() for immediate effect.
 * Loop thread only. */
int ep_auth_endpoint_access(ep_auth *a, const char *type, const char *ns, const char *bearer,
                            int64_t now);
#define EP_AUTH_CACHE_TTL_MS 1000
void ep_auth_set_cache_ttl(ep_auth *a, unsigned ms); /* 0 = no cache; clears it */
void ep_auth_cache_clear(ep_auth *a);

/* First start: ensures user "admin" exists (is_admin). When env_token is set
 * it becomes a write token of admin (imported if new). Otherwise, when admin
 * was just created, a write token is generated into new_token (shown once by
 * the caller) and *created = 1. */
int ep_auth_bootstrap(ep_auth *a, const char *env_token, int64_t now, char *new_token,
                      size_t new_token_sz, int *created);

/* Name rules shared by users, orgs and endpoints: 1-32 of [a-z0-9-], first
 * char alphanumeric. 1 valid, 0 not. */
int ep_auth_name_valid(const char *name);

#endif
