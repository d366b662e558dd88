/* Numbered schema migrations. Each entry is applied once, in order, inside one
 * transaction together with its row in schema_version. Never edit a shipped
 * migration; append a new one (docs/operations.md, "Upgrade"). */
#include <stdio.h>

#include "base/err.h"
#include "store/store-impl.h"

static const char *const k_migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, fullname TEXT NOT NULL DEFAULT '',"
    " email TEXT NOT NULL DEFAULT '', is_admin INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE memberships ("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    " role TEXT NOT NULL DEFAULT 'member', PRIMARY KEY (user_id, org_id));"
    "CREATE TABLE tokens ("
    " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " display_name TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('read','write')),"
    " hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL, expires_at INTEGER,"
    " revoked_at INTEGER, last_used_at INTEGER);"
    "CREATE TABLE endpoints ("
    " id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    " spec TEXT NOT NULL, type TEXT NOT NULL,"
    " paused INTEGER NOT NULL DEFAULT 0, scale_to_zero INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL DEFAULT 'pending', message TEXT, error_message TEXT, url TEXT,"
    " ready_replica INTEGER NOT NULL DEFAULT 0, target_replica INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " created_by TEXT NOT NULL DEFAULT '', updated_by TEXT NOT NULL DEFAULT '',"
    " revision INTEGER NOT NULL DEFAULT 1, UNIQUE (namespace, name));"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY,"
    " endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);"
    "CREATE INDEX events_by_endpoint ON events(endpoint_id, id);",
};

int ep_store_migration_count(void) { return (int)(sizeof k_migrations / sizeof k_migrations[0]); }

/* Applies migrations above the current version. Called by ep_store_open. */
int ep__st_migrate(ep_store *st) {
  int rc = ep__st_exec(st, "CREATE TABLE IF NOT EXISTS schema_version ("
                           " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  if (rc) return rc;
  int cur = ep_store_schema_version(st);
  if (cur < 0) return EP_EDB;
  if (cur > ep_store_migration_count()) {
    snprintf(st->err, sizeof st->err, "database schema %d is newer than this build (%d)", cur,
             ep_store_migration_count());
    return EP_EUNSUPPORTED;
  }
  for (int v = cur + 1; v <= ep_store_migration_count(); v++) {
    if ((rc = ep_store_begin(st))) return rc;
    rc = ep__st_exec(st, k_migrations[v - 1]);
    if (!rc) {
      char sql[128];
      snprintf(sql, sizeof sql,
               "INSERT INTO schema_version(version, applied_at)"
               " VALUES (%d, CAST(strftime('%%s','now') AS INTEGER) * 1000)", v);
      rc = ep__st_exec(st, sql);
    }
    if (rc) {
      ep_store_rollback(st);
      return rc;
    }
    if ((rc = ep_store_commit(st))) return rc;
  }
  return EP_OK;
}
