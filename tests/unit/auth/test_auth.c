/* Auth tests: token format, keyed hash (independent reference: BLAKE2b via
 * libsodium's generic hash equals Python hashlib.blake2b(key=...) digest),
 * constant-time compare, authenticate with revoked/expired/unknown tokens,
 * namespace access, data-plane type checks, bootstrap, name rules. */
#include <sodium.h>
#include <stdlib.h>

#include "auth/auth.h"
#include "base/err.h"
#include "test.h"

static void test_hash_reference(void) {
  /* hashlib.blake2b(b"epd_test", digest_size=32, key=bytes(range(32))).hexdigest() */
  unsigned char key[32];
  for (int i = 0; i < 32; i++) key[i] = (unsigned char)i;
  ep_auth *a;
  CHECK_INT(ep_auth_open_with_key(NULL, key, &a), EP_OK);
  unsigned char h[32];
  ep_auth_token_hash(a, "epd_test", h);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  CHECK_STR(hex, "a7da02ae10f1acc9f27afea3382bff59a103e81b66d7d495503329f17e728419");
  unsigned char h2[32];
  memcpy(h2, h, 32);
  CHECK(ep_auth_hash_equal(h, h2));
  h2[31] ^= 1;
  CHECK(!ep_auth_hash_equal(h, h2));
  ep_auth_free(a);
}

static void test_tokens(void) {
  ep_store *st;
  CHECK_INT(ep_store_open(":memory:", &st), EP_OK);
  ep_auth *a;
  CHECK_INT(ep_auth_open(st, NULL, &a), EP_OK);
  int64_t alice, bob, acme;
  ep_store_user_create(st, "alice", "", "", 0, 1, &alice);
  ep_store_user_create(st, "bob", "", "", 0, 1, &bob);
  ep_store_org_create(st, "acme", 1, &acme);
  ep_store_member_set(st, alice, acme, "member");

  char tw[EP_TOKEN_TEXT_MAX], tr[EP_TOKEN_TEXT_MAX], te[EP_TOKEN_TEXT_MAX], tx[EP_TOKEN_TEXT_MAX];
  ep_token_row row;
  CHECK_INT(ep_auth_token_create(a, alice, "w", "write", 0, 1000, tw, sizeof tw, &row), EP_OK);
  CHECK_INT(strlen(tw), 68);
  CHECK(strncmp(tw, "epd_", 4) == 0);
  for (size_t i = 4; i < strlen(tw); i++) CHECK(strchr("0123456789abcdef", tw[i]) != NULL);
  CHECK_INT(ep_auth_token_create(a, alice, "r", "read", 0, 1000, tr, sizeof tr, NULL), EP_OK);
  CHECK(strcmp(tw, tr) != 0);
  CHECK_INT(ep_auth_token_create(a, bob, "e", "write", 5000, 1000, te, sizeof te, NULL), EP_OK);
  CHECK_INT(ep_auth_token_create(a, bob, "x", "admin", 0, 1000, tx, sizeof tx, NULL), EP_EINVAL);

  ep_principal p;
  CHECK_INT(ep_auth_authenticate(a, tw, 2000, &p), EP_OK);
  CHECK_STR(p.user.name, "alice");
  CHECK(ep_auth_can_write(&p));
  CHECK_INT(ep_auth_ns_access(a, &p, "alice"), 1);
  CHECK_INT(ep_auth_ns_access(a, &p, "acme"), 1);
  CHECK_INT(ep_auth_ns_access(a, &p, "bob"), 0);
  ep_token_row stored;
  CHECK_INT(ep_store_token_get(st, row.id, &stored), EP_OK);
  CHECK_INT(stored.last_used_at, 2000);
  unsigned char h[32];
  ep_auth_token_hash(a, tw, h);
  CHECK(ep_auth_hash_equal(h, stored.hash)); /* only the hash is stored */

  CHECK_INT(ep_auth_authenticate(a, tr, 2000, &p), EP_OK);
  CHECK(!ep_auth_can_write(&p));
  CHECK_INT(ep_auth_authenticate(a, te, 4999, &p), EP_OK);
  CHECK_INT(ep_auth_authenticate(a, te, 5000, &p), EP_EUNAUTH); /* expired */
  CHECK_INT(ep_auth_authenticate(a, "epd_nope", 1, &p), EP_EUNAUTH);
  CHECK_INT(ep_auth_authenticate(a, "", 1, &p), EP_EUNAUTH);
  CHECK_INT(ep_auth_authenticate(a, NULL, 1, &p), EP_EUNAUTH);
  CHECK_INT(ep_store_token_revoke(st, row.id, 3000), EP_OK);
  CHECK_INT(ep_auth_authenticate(a, tw, 3001, &p), EP_EUNAUTH);

  /* data-plane checks by endpoint type */
  CHECK_INT(ep_auth_endpoint_access(a, "public", "alice", NULL, 1), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", NULL, 1), 401);
  CHECK_INT(ep_auth_endpoint_access(a, "protected", "alice", tr, 1), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "authenticated", "bob", tr, 1), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "alice", tr, 1), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "acme", tr, 1), 0);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "bob", tr, 1), 403);
  CHECK_INT(ep_auth_endpoint_access(a, "private", "bob", "garbage", 1), 401);
  ep_auth_free(a);
  ep_store_close(st);
}

static void test_bootstrap(void) {
  ep_store *st;
  CHECK_INT(ep_store_open(":memory:", &st), EP_OK);
  ep_auth *a;
  CHECK_INT(ep_auth_open(st, NULL, &a), EP_OK);
  char tok[EP_TOKEN_TEXT_MAX];
  int created = 0;
  CHECK_INT(ep_auth_bootstrap(a, NULL, 1, tok, sizeof tok, &created), EP_OK);
  CHECK_INT(created, 1);
  ep_principal p;
  CHECK_INT(ep_auth_authenticate(a, tok, 2, &p), EP_OK);
  CHECK_STR(p.user.name, "admin");
  CHECK_INT(p.user.is_admin, 1);
  CHECK_INT(ep_auth_ns_access(a, &p, "anyone"), 1);
  CHECK_INT(ep_auth_bootstrap(a, NULL, 3, tok, sizeof tok, &created), EP_OK);
  CHECK_INT(created, 0); /* second start: nothing printed */
  CHECK_INT(ep_auth_bootstrap(a, "my-admin-secret", 4, tok, sizeof tok, &created), EP_OK);
  CHECK_INT(ep_auth_bootstrap(a, "my-admin-secret", 5, tok, sizeof tok, &created), EP_OK);
  CHECK_INT(ep_auth_authenticate(a, "my-admin-secret", 6, &p), EP_OK);
  CHECK_STR(p.token.role, "write");
  ep_auth_free(a);
  ep_store_close(st);
}

static void test_names(void) {
  CHECK(ep_auth_name_valid("a"));
  CHECK(ep_auth_name_valid("my-endpoint-1"));
  CHECK(ep_auth_name_valid("0abc"));
  CHECK(ep_auth_name_valid("abcdefghijabcdefghijabcdefghij12")); /* 32 */
  CHECK(!ep_auth_name_valid("abcdefghijabcdefghijabcdefghij123"));
  CHECK(!ep_auth_name_valid(""));
  CHECK(!ep_auth_name_valid("-abc"));
  CHECK(!ep_auth_name_valid("Abc"));
  CHECK(!ep_auth_name_valid("a_b"));
  CHECK(!ep_auth_name_valid("a.b"));
  CHECK(!ep_auth_name_valid(NULL));
}

int main(void) {
  RUN(test_hash_reference);
  RUN(test_tokens);
  RUN(test_bootstrap);
  RUN(test_names);
  return t_finish();
}
