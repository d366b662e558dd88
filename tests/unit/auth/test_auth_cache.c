/* Data-plane token cache (ep_auth_endpoint_access): a revoked token is
 * refused at once after ep_auth_cache_clear() and, revoked behind the cache's
 * back, within the TTL; expiry is exact even when cached; a membership change
 * reaches private endpoints; the cache really avoids the store (a revoked but
 * cached token still passes inside the TTL); TTL 0 disables it; tokens
 * sharing slots keep their own answers. Times are the `now` argument. */
#include <stdlib.h>

#include "auth/auth.h"
#include "base/err.h"
#include "test.h"

static ep_store *st;
static ep_auth *a;
static int64_t alice, bob, acme;

static void setup(void) {
  CHECK_INT(ep_store_open(":memory:", &st), EP_OK);
  CHECK_INT(ep_auth_open(st, NULL, &a), EP_OK);
  ep_store_user_create(st, "alice", "", "", 0, 1, &alice);
  ep_store_user_create(st, "bob", "", "", 0, 1, &bob);
  ep_store_org_create(st, "acme", 1, &acme);
}

static void teardown(void) {
  ep_auth_free(a);
  ep_store_close(st);
}

static void test_revoke(void) {
  setup();
  char tok[EP_TOKEN_TEXT_MAX];
  ep_token_row row;
  CHECK_INT(ep_auth_token_create(a, alice, "t", "read", 0, 1000, tok, sizeof tok, &row), EP_OK);
  int64_t t0 = 10000;
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, t0), 0);
  /* revoked in the store only: the cached answer holds at most the TTL */
  CHECK_INT(ep_store_token_revoke(st, row.id, t0 + 1), EP_OK);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, t0 + 10), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, t0 + EP_AUTH_CACHE_TTL_MS - 1), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, t0 + EP_AUTH_CACHE_TTL_MS), 401);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, t0 + EP_AUTH_CACHE_TTL_MS + 1), 401);
  /* a clock that went backwards does not extend the cached answer */
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, t0 - 5000), 401);

  /* revoked with the clear (what the API does): refused at once */
  char tok2[EP_TOKEN_TEXT_MAX];
  CHECK_INT(ep_auth_token_create(a, alice, "t2", "read", 0, 1000, tok2, sizeof tok2, &row), EP_OK);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "alice", tok2, t0), 0);
  CHECK_INT(ep_store_token_revoke(st, row.id, t0 + 1), EP_OK);
  ep_auth_cache_clear(a);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "alice", tok2, t0 + 2), 401);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok2, t0 + 3), 401);
  /* public needs nothing; unknown and missing tokens are 401 */
  CHECK_INT(ep_auth_endpoint_access(a, "public", "alice", NULL, t0), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", NULL, t0), 401);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", "epd_nope", t0), 401);
  teardown();
}

static void test_expiry_exact(void) {
  setup();
  char tok[EP_TOKEN_TEXT_MAX];
  int64_t t0 = 50000;
  CHECK_INT(ep_auth_token_create(a, bob, "t", "read", t0 + 300, t0, tok, sizeof tok, NULL), EP_OK);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "x", tok, t0 + 100), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "x", tok, t0 + 299), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "x", tok, t0 + 300), 401); /* cached, expired */
  teardown();
}

static void test_membership(void) {
  setup();
  char tok[EP_TOKEN_TEXT_MAX];
  CHECK_INT(ep_auth_token_create(a, bob, "t", "read", 0, 1, tok, sizeof tok, NULL), EP_OK);
  int64_t t0 = 20000;
  CHECK_INT(ep_auth_endpoint_access(a, "private", "acme", tok, t0), 403);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "bob", tok, t0), 0); /* other ns: own */
  CHECK_INT(ep_auth_endpoint_access(a, "private", "alice", tok, t0), 403);
  CHECK_INT(ep_store_member_set(st, bob, acme, "member"), EP_OK);
  /* behind the cache's back: within the TTL */
  CHECK_INT(ep_auth_endpoint_access(a, "private", "acme", tok, t0 + EP_AUTH_CACHE_TTL_MS), 0);
  /* with the clear: at once */
  char tok2[EP_TOKEN_TEXT_MAX];
  CHECK_INT(ep_auth_token_create(a, alice, "t", "read", 0, 1, tok2, sizeof tok2, NULL), EP_OK);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "acme", tok2, t0), 403);
  CHECK_INT(ep_store_member_set(st, alice, acme, "member"), EP_OK);
  ep_auth_cache_clear(a);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "acme", tok2, t0 + 1), 0);
  teardown();
}

static void test_ttl_zero(void) {
  setup();
  ep_auth_set_cache_ttl(a, 0);
  char tok[EP_TOKEN_TEXT_MAX];
  ep_token_row row;
  CHECK_INT(ep_auth_token_create(a, alice, "t", "read", 0, 1, tok, sizeof tok, &row), EP_OK);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, 30000), 0);
  CHECK_INT(ep_store_token_revoke(st, row.id, 30001), EP_OK);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tok, 30002), 401);
  teardown();
}

/* Many tokens share the 64 slots: each still gets its own answer. */
static void test_many_tokens(void) {
  setup();
  enum { N = 200 };
  char (*toks)[EP_TOKEN_TEXT_MAX] = calloc(N, EP_TOKEN_TEXT_MAX);
  int64_t ids[N];
  for (int i = 0; i < N; i++) {
    ep_token_row row;
    CHECK_INT(ep_auth_token_create(a, i % 2 ? alice : bob, "t", "read", 0, 1, toks[i], EP_TOKEN_TEXT_MAX, &row), EP_OK);
    ids[i] = row.id;
  }
  int bad = 0;
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < N; i++)
      bad += ep_auth_endpoint_access(a, "private", "alice", toks[i], 40000 + round) != (i % 2 ? 0 : 403);
  CHECK_INT(bad, 0);
  for (int i = 0; i < N; i += 3) ep_store_token_revoke(st, ids[i], 40010);
  ep_auth_cache_clear(a);
  bad = 0;
  for (int i = 0; i < N; i++) {
    int want = i % 3 == 0 ? 401 : (i % 2 ? 0 : 403);
    bad += ep_auth_endpoint_access(a, "private", "alice", toks[i], 40020) != want;
  }
  CHECK_INT(bad, 0);
  free(toks);
  teardown();
}

int main(void) {
  RUN(test_revoke);
  RUN(test_expiry_exact);
  RUN(test_membership);
  RUN(test_ttl_zero);
  RUN(test_many_tokens);
  return t_finish();
}
