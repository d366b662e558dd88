/* Store error causes: a database that cannot grow (SQLite's max_page_count,
 * the same SQLITE_FULL a full disk gives) fails writes with EP_ENOSPACE and a
 * message naming it; a read-only database fails writes with EP_EREADONLY;
 * reads keep working and writes work again once the condition is gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "store/store-impl.h"
#include "test.h"

static char g_dir[] = "/tmp/ep_store_errXXXXXX";

static int64_t add_user(ep_store *st, int i, int *err) {
  char name[32], full[EP_TEXT_MAX];
  snprintf(name, sizeof name, "u%d", i);
  memset(full, 'x', sizeof full - 1);
  full[sizeof full - 1] = 0;
  int64_t id = 0;
  *err = ep_store_user_create(st, name, full, "", 0, 1, &id);
  return id;
}

static void test_full(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/full.db", g_dir);
  ep_store *st;
  CHECK_INT(ep_store_open(path, &st), EP_OK);
  /* cap the file at its current size + 2 pages */
  sqlite3_stmt *s = ep__st_prep(st, "PRAGMA page_count");
  CHECK(s && sqlite3_step(s) == SQLITE_ROW);
  int pages = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA max_page_count=%d", pages + 2);
  CHECK_INT(ep__st_exec(st, sql), EP_OK);
  int err = EP_OK, i = 0;
  for (; i < 200 && err == EP_OK; i++) add_user(st, i, &err);
  CHECK_INT(err, EP_ENOSPACE);
  CHECK(i > 1); /* some rows fit first */
  CHECK(strstr(ep_store_last_error(st), "full") != NULL);
  CHECK_STR(ep_strerror(err), "no space left on device");
  ep_user u;
  CHECK_INT(ep_store_user_get_by_name(st, "u0", &u), EP_OK); /* reads still work */
  CHECK_INT(ep__st_exec(st, "PRAGMA max_page_count=100000"), EP_OK);
  add_user(st, 1000, &err);
  CHECK_INT(err, EP_OK);
  ep_store_close(st);
}

static void test_read_only(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/ro.db", g_dir);
  ep_store *st;
  CHECK_INT(ep_store_open(path, &st), EP_OK);
  int err;
  add_user(st, 1, &err);
  CHECK_INT(err, EP_OK);
  CHECK_INT(ep__st_exec(st, "PRAGMA query_only=1"), EP_OK);
  add_user(st, 2, &err);
  CHECK_INT(err, EP_EREADONLY);
  CHECK(strstr(ep_store_last_error(st), "readonly") != NULL);
  CHECK_INT(ep_store_begin(st), EP_EREADONLY); /* BEGIN IMMEDIATE takes the write lock */
  CHECK_INT(ep_store_org_create(st, "o1", 1, NULL), EP_EREADONLY);
  ep_user u;
  CHECK_INT(ep_store_user_get_by_name(st, "u1", &u), EP_OK);
  CHECK_INT(ep__st_exec(st, "PRAGMA query_only=0"), EP_OK);
  add_user(st, 3, &err);
  CHECK_INT(err, EP_OK);
  ep_store_close(st);
}

int main(void) {
  if (!mkdtemp(g_dir)) return 1;
  RUN(test_full);
  RUN(test_read_only);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return t_finish();
}
