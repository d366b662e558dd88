/* Store tests: migrations (fresh and re-open), users/orgs/memberships, token
 * rows, endpoint CRUD, revision bumps, status events, transactions (rollback
 * leaves no trace) and persistence across close/open of a file database. */
#include <stdlib.h>
#include <unistd.h>

#include "base/err.h"
#include "store/store.h"
#include "test.h"

static char g_dir[] = "/tmp/ep_store_testXXXXXX";

static int count_cb(void *ctx, const ep_endpoint_row *r) {
  (void)r;
  (*(int *)ctx)++;
  return 0;
}

static int ev_cb(void *ctx, const ep_event_row *e) {
  int *n = ctx;
  if (*n == 0) CHECK_STR(e->kind, "created");
  (*n)++;
  return 0;
}

static void test_migrations(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/a.db", g_dir);
  ep_store *st;
  CHECK_INT(ep_store_open(path, &st), EP_OK);
  CHECK_INT(ep_store_schema_version(st), ep_store_migration_count());
  CHECK(ep_store_migration_count() >= 1);
  ep_store_close(st);
  CHECK_INT(ep_store_open(path, &st), EP_OK); /* re-open: nothing re-applied */
  CHECK_INT(ep_store_schema_version(st), ep_store_migration_count());
  ep_store_close(st);
}

static void test_users_orgs(void) {
  ep_store *st;
  CHECK_INT(ep_store_open(":memory:", &st), EP_OK);
  int64_t alice, bob, acme;
  CHECK_INT(ep_store_user_create(st, "alice", "Alice", "a@x", 0, 1000, &alice), EP_OK);
  CHECK_INT(ep_store_user_create(st, "bob", NULL, NULL, 0, 1000, &bob), EP_OK);
  CHECK_INT(ep_store_user_create(st, "alice", "", "", 0, 1000, NULL), EP_EEXISTS);
  CHECK_INT(ep_store_org_create(st, "acme", 1000, &acme), EP_OK);
  CHECK_INT(ep_store_org_create(st, "alice", 1000, NULL), EP_EEXISTS); /* users and orgs share names */
  CHECK_INT(ep_store_user_create(st, "acme", "", "", 0, 1000, NULL), EP_EEXISTS);
  ep_user u;
  CHECK_INT(ep_store_user_get_by_name(st, "alice", &u), EP_OK);
  CHECK_STR(u.fullname, "Alice");
  CHECK_INT(u.id, alice);
  CHECK_INT(ep_store_user_get_by_name(st, "carol", &u), EP_ENOTFOUND);
  CHECK_INT(ep_store_member_check(st, alice, "acme"), 0);
  CHECK_INT(ep_store_member_set(st, alice, acme, "admin"), EP_OK);
  CHECK_INT(ep_store_member_set(st, alice, acme, "member"), EP_OK); /* upsert */
  CHECK_INT(ep_store_member_check(st, alice, "acme"), 1);
  CHECK_INT(ep_store_member_check(st, bob, "acme"), 0);
  CHECK_INT(ep_store_member_set(st, 999, acme, "member"), EP_ENOTFOUND); /* foreign key */
  ep_store_close(st);
}

static void test_tokens(void) {
  ep_store *st;
  CHECK_INT(ep_store_open(":memory:", &st), EP_OK);
  int64_t uid;
  ep_store_user_create(st, "alice", "", "", 0, 1, &uid);
  ep_token_row t;
  memset(&t, 0, sizeof t);
  t.user_id = uid;
  strcpy(t.display_name, "ci");
  strcpy(t.role, "read");
  memset(t.hash, 7, sizeof t.hash);
  t.created_at = 5;
  int64_t id;
  CHECK_INT(ep_store_token_insert(st, &t, &id), EP_OK);
  CHECK_INT(ep_store_token_insert(st, &t, NULL), EP_EEXISTS); /* hash unique */
  strcpy(t.role, "admin");
  t.hash[0] = 1;
  CHECK(ep_store_token_insert(st, &t, NULL) != EP_OK); /* role check constraint */
  ep_token_row g;
  unsigned char h[32];
  memset(h, 7, sizeof h);
  CHECK_INT(ep_store_token_find_by_hash(st, h, &g), EP_OK);
  CHECK_INT(g.id, id);
  CHECK_STR(g.role, "read");
  CHECK_INT(g.expires_at, 0);
  CHECK_INT(ep_store_token_revoke(st, id, 77), EP_OK);
  CHECK_INT(ep_store_token_revoke(st, id, 99), EP_OK); /* keeps the first time */
  CHECK_INT(ep_store_token_get(st, id, &g), EP_OK);
  CHECK_INT(g.revoked_at, 77);
  CHECK_INT(ep_store_token_revoke(st, 12345, 1), EP_ENOTFOUND);
  ep_store_close(st);
}

static ep_endpoint_row mk(const char *ns, const char *name) {
  ep_endpoint_row r;
  memset(&r, 0, sizeof r);
  snprintf(r.ns, sizeof r.ns, "%s", ns);
  snprintf(r.name, sizeof r.name, "%s", name);
  strcpy(r.type, "protected");
  r.spec = "{\"model\":{\"repository\":\"gpt2\"}}";
  strcpy(r.state, "pending");
  r.created_at = r.updated_at = 1000;
  strcpy(r.created_by, "alice");
  strcpy(r.updated_by, "alice");
  return r;
}

static void test_endpoints(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/b.db", g_dir);
  ep_store *st;
  CHECK_INT(ep_store_open(path, &st), EP_OK);
  ep_endpoint_row r = mk("alice", "one");
  int64_t id1, id2;
  CHECK_INT(ep_store_endpoint_insert(st, &r, &id1), EP_OK);
  CHECK_INT(ep_store_endpoint_insert(st, &r, NULL), EP_EEXISTS);
  r = mk("bob", "one"); /* same name, other namespace */
  CHECK_INT(ep_store_endpoint_insert(st, &r, &id2), EP_OK);
  int n = 0;
  CHECK_INT(ep_store_endpoint_list(st, "alice", count_cb, &n), EP_OK);
  CHECK_INT(n, 1);
  n = 0;
  CHECK_INT(ep_store_endpoint_list(st, NULL, count_cb, &n), EP_OK);
  CHECK_INT(n, 2);

  ep_endpoint_row g;
  CHECK_INT(ep_store_endpoint_get(st, "alice", "one", &g), EP_OK);
  CHECK_INT(g.revision, 1);
  CHECK_STR(g.state, "pending");
  CHECK(g.url == NULL);
  free(g.spec);
  g.spec = strdup("{\"model\":{\"repository\":\"distilgpt2\"}}");
  g.updated_at = 2000;
  CHECK_INT(ep_store_endpoint_update(st, &g, 1, "updated", "spec changed"), EP_OK);
  CHECK_INT(g.revision, 2);
  g.paused = 1;
  CHECK_INT(ep_store_endpoint_update(st, &g, 0, "paused", NULL), EP_OK);
  ep_endpoint_row_clear(&g);
  CHECK_INT(ep_store_endpoint_get_by_id(st, id1, &g), EP_OK);
  CHECK_INT(g.revision, 2);
  CHECK_INT(g.paused, 1);
  CHECK_STR(g.spec, "{\"model\":{\"repository\":\"distilgpt2\"}}");
  CHECK_INT(g.updated_at, 2000);
  CHECK_INT(g.created_at, 1000);
  ep_endpoint_row_clear(&g);

  ep_endpoint_status s = {"running", "Endpoint is ready", NULL, "http://x/endpoints/alice/one", 1, 1};
  CHECK_INT(ep_store_endpoint_set_status(st, id1, &s, 3000), EP_OK);
  CHECK_INT(ep_store_endpoint_set_status(st, id1, &s, 3001), EP_OK); /* no new event */
  n = 0;
  CHECK_INT(ep_store_event_list(st, id1, 0, ev_cb, &n), EP_OK);
  CHECK_INT(n, 4); /* created, updated, paused, state */
  CHECK_INT(ep_store_endpoint_set_status(st, 999, &s, 1), EP_ENOTFOUND);

  /* an explicit transaction that is rolled back leaves nothing behind */
  CHECK_INT(ep_store_begin(st), EP_OK);
  ep_store_event_append(st, id1, 5000, "x", "rolled back");
  ep_store_rollback(st);
  n = 0;
  ep_store_event_list(st, id1, 0, ev_cb, &n);
  CHECK_INT(n, 4);
  /* a failed insert (event for an unknown endpoint) is refused by the FK */
  CHECK(ep_store_event_append(st, 4242, 1, "x", "y") != EP_OK);
  ep_store_close(st);

  /* persistence across re-open */
  CHECK_INT(ep_store_open(path, &st), EP_OK);
  CHECK_INT(ep_store_endpoint_get(st, "alice", "one", &g), EP_OK);
  CHECK_STR(g.state, "running");
  CHECK_STR(g.url, "http://x/endpoints/alice/one");
  CHECK_INT(g.ready_replica, 1);
  ep_endpoint_row_clear(&g);
  CHECK_INT(ep_store_endpoint_delete(st, id1), EP_OK);
  CHECK_INT(ep_store_endpoint_delete(st, id1), EP_ENOTFOUND);
  CHECK_INT(ep_store_endpoint_get(st, "alice", "one", &g), EP_ENOTFOUND);
  n = 0;
  ep_store_event_list(st, id1, 0, ev_cb, &n);
  CHECK_INT(n, 0); /* events cascaded */
  ep_store_close(st);
}

int main(void) {
  if (!mkdtemp(g_dir)) return 1;
  RUN(test_migrations);
  RUN(test_users_orgs);
  RUN(test_tokens);
  RUN(test_endpoints);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return t_finish();
}
