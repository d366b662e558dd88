/* Store handle, transactions, users, orgs, memberships and tokens. Endpoint
 * and event queries live in store_endpoint.c; the schema in migrations.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "store/store-impl.h"

int ep__st_migrate(ep_store *st);

sqlite3_stmt *ep__st_prep(ep_store *st, const char *sql) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
    ep__st_fail(st, SQLITE_ERROR);
    return NULL;
  }
  return s;
}

/* Maps a failed sqlite result code to an ep_err, using the OS errno of the
 * failed file operation too: a full disk can surface as SQLITE_FULL or as an
 * I/O error with ENOSPC, a read-only file system as SQLITE_READONLY or EROFS. */
static int map_rc(ep_store *st, int rc) {
  int prim = rc & 0xff, sys = sqlite3_system_errno(st->db);
  if (prim == SQLITE_CONSTRAINT) return EP_EEXISTS;
  if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) return EP_EBUSY;
  if (prim == SQLITE_FULL || (prim == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)))
    return EP_ENOSPACE;
  if (prim == SQLITE_READONLY || (prim == SQLITE_IOERR && sys == EROFS) ||
      (prim == SQLITE_CANTOPEN && sys == EROFS))
    return EP_EREADONLY;
  if (prim == SQLITE_NOMEM) return EP_ENOMEM;
  if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) return EP_ECORRUPT;
  return EP_EDB;
}

int ep__st_fail(ep_store *st, int rc) {
  int code = sqlite3_extended_errcode(st->db);
  if ((code & 0xff) != (rc & 0xff)) code = rc; /* rc did not come from the last call */
  int sys = sqlite3_system_errno(st->db);
  if (sys && ((code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_FULL ||
              (code & 0xff) == SQLITE_CANTOPEN || (code & 0xff) == SQLITE_READONLY))
    snprintf(st->err, sizeof st->err, "%s (%s)", sqlite3_errmsg(st->db), strerror(sys));
  else
    snprintf(st->err, sizeof st->err, "%s", sqlite3_errmsg(st->db));
  return map_rc(st, code);
}

int ep__st_exec(ep_store *st, const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    snprintf(st->err, sizeof st->err, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return map_rc(st, rc);
  }
  return EP_OK;
}

void ep__st_col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap) {
  const unsigned char *t = sqlite3_column_text(s, i);
  snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

char *ep__st_col_dup(sqlite3_stmt *s, int i) {
  const unsigned char *t = sqlite3_column_text(s, i);
  return t ? strdup((const char *)t) : NULL;
}

void ep__st_bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v)
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, i);
}

static void bind_opt_i64(sqlite3_stmt *s, int i, int64_t v) {
  if (v)
    sqlite3_bind_int64(s, i, v);
  else
    sqlite3_bind_null(s, i);
}

int ep_store_open(const char *path, ep_store **out) {
  *out = NULL;
  ep_store *st = calloc(1, sizeof *st);
  if (!st) return EP_ENOMEM;
  int rc = sqlite3_open_v2(path, &st->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_close(st->db);
    free(st);
    return EP_EDB;
  }
  sqlite3_busy_timeout(st->db, 5000);
  int err = ep__st_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                            " PRAGMA foreign_keys=ON;");
  if (!err) err = ep__st_migrate(st);
  if (err) {
    ep_store_close(st);
    return err;
  }
  *out = st;
  return EP_OK;
}

void ep_store_close(ep_store *st) {
  if (!st) return;
  sqlite3_close(st->db);
  free(st);
}

const char *ep_store_last_error(ep_store *st) { return st->err; }

int ep_store_schema_version(ep_store *st) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (!s) return -1;
  int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
  sqlite3_finalize(s);
  return v;
}

int ep_store_begin(ep_store *st) { return ep__st_exec(st, "BEGIN IMMEDIATE"); }
int ep_store_commit(ep_store *st) { return ep__st_exec(st, "COMMIT"); }
void ep_store_rollback(ep_store *st) {
  if (!sqlite3_get_autocommit(st->db)) ep__st_exec(st, "ROLLBACK");
}

/* Runs a prepared write statement to completion and finalizes it. */
static int step_done(ep_store *st, sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  int err = rc == SQLITE_DONE ? EP_OK : ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return err;
}

/* ---- users ------------------------------------------------------------------ */
static int name_taken_by_org(ep_store *st, const char *name) {
  ep_org o;
  return ep_store_org_get_by_name(st, name, &o) == EP_OK;
}

int ep_store_user_create(ep_store *st, const char *name, const char *fullname, const char *email,
                         int is_admin, int64_t now, int64_t *id_out) {
  if (name_taken_by_org(st, name)) return EP_EEXISTS;
  sqlite3_stmt *s = ep__st_prep(
      st, "INSERT INTO users(name, fullname, email, is_admin, created_at) VALUES (?,?,?,?,?)");
  if (!s) return EP_EDB;
  ep__st_bind_text(s, 1, name);
  ep__st_bind_text(s, 2, fullname ? fullname : "");
  ep__st_bind_text(s, 3, email ? email : "");
  sqlite3_bind_int(s, 4, is_admin ? 1 : 0);
  sqlite3_bind_int64(s, 5, now);
  int err = step_done(st, s);
  if (!err && id_out) *id_out = sqlite3_last_insert_rowid(st->db);
  return err;
}

#define USER_COLS "id, name, fullname, email, is_admin, created_at"

static void read_user(sqlite3_stmt *s, ep_user *u) {
  u->id = sqlite3_column_int64(s, 0);
  ep__st_col_copy(s, 1, u->name, sizeof u->name);
  ep__st_col_copy(s, 2, u->fullname, sizeof u->fullname);
  ep__st_col_copy(s, 3, u->email, sizeof u->email);
  u->is_admin = sqlite3_column_int(s, 4);
  u->created_at = sqlite3_column_int64(s, 5);
}

static int user_one(ep_store *st, sqlite3_stmt *s, ep_user *out) {
  int rc = sqlite3_step(s), err = EP_OK;
  if (rc == SQLITE_ROW)
    read_user(s, out);
  else
    err = rc == SQLITE_DONE ? EP_ENOTFOUND : ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return err;
}

int ep_store_user_get(ep_store *st, int64_t id, ep_user *out) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT " USER_COLS " FROM users WHERE id = ?");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, id);
  return user_one(st, s, out);
}

int ep_store_user_get_by_name(ep_store *st, const char *name, ep_user *out) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT " USER_COLS " FROM users WHERE name = ?");
  if (!s) return EP_EDB;
  ep__st_bind_text(s, 1, name);
  return user_one(st, s, out);
}

int ep_store_user_list(ep_store *st, int (*cb)(void *ctx, const ep_user *u), void *ctx) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT " USER_COLS " FROM users ORDER BY id");
  if (!s) return EP_EDB;
  int rc, ret = EP_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ep_user u;
    read_user(s, &u);
    if ((ret = cb(ctx, &u))) break;
  }
  if (!ret && rc != SQLITE_DONE) ret = ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return ret;
}

/* ---- orgs and memberships ---------------------------------------------------- */
int ep_store_org_create(ep_store *st, const char *name, int64_t now, int64_t *id_out) {
  ep_user u;
  if (ep_store_user_get_by_name(st, name, &u) == EP_OK) return EP_EEXISTS;
  sqlite3_stmt *s = ep__st_prep(st, "INSERT INTO orgs(name, created_at) VALUES (?, ?)");
  if (!s) return EP_EDB;
  ep__st_bind_text(s, 1, name);
  sqlite3_bind_int64(s, 2, now);
  int err = step_done(st, s);
  if (!err && id_out) *id_out = sqlite3_last_insert_rowid(st->db);
  return err;
}

int ep_store_org_get_by_name(ep_store *st, const char *name, ep_org *out) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT id, name FROM orgs WHERE name = ?");
  if (!s) return EP_EDB;
  ep__st_bind_text(s, 1, name);
  int rc = sqlite3_step(s), err = EP_OK;
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(s, 0);
    ep__st_col_copy(s, 1, out->name, sizeof out->name);
  } else {
    err = rc == SQLITE_DONE ? EP_ENOTFOUND : ep__st_fail(st, rc);
  }
  sqlite3_finalize(s);
  return err;
}

int ep_store_member_set(ep_store *st, int64_t user_id, int64_t org_id, const char *role) {
  sqlite3_stmt *s = ep__st_prep(st,
                                "INSERT INTO memberships(user_id, org_id, role) VALUES (?,?,?)"
                                " ON CONFLICT(user_id, org_id) DO UPDATE SET role = excluded.role");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, user_id);
  sqlite3_bind_int64(s, 2, org_id);
  ep__st_bind_text(s, 3, role ? role : "member");
  int err = step_done(st, s);
  return err == EP_EEXISTS ? EP_ENOTFOUND : err; /* FK failure: unknown user/org */
}

int ep_store_member_check(ep_store *st, int64_t user_id, const char *org_name) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT 1 FROM memberships m JOIN orgs o ON o.id = m.org_id"
                                    " WHERE m.user_id = ? AND o.name = ?");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, user_id);
  ep__st_bind_text(s, 2, org_name);
  int rc = sqlite3_step(s);
  int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return ret;
}

int ep_store_user_orgs(ep_store *st, int64_t user_id, int (*cb)(void *ctx, const ep_org *o),
                       void *ctx) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT o.id, o.name, m.role FROM memberships m"
                                    " JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?"
                                    " ORDER BY o.name");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, user_id);
  int rc, ret = EP_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ep_org o;
    o.id = sqlite3_column_int64(s, 0);
    ep__st_col_copy(s, 1, o.name, sizeof o.name);
    ep__st_col_copy(s, 2, o.role, sizeof o.role);
    if ((ret = cb(ctx, &o))) break;
  }
  if (!ret && rc != SQLITE_DONE) ret = ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return ret;
}

/* ---- tokens ----------------------------------------------------------------- */
#define TOKEN_COLS \
  "id, user_id, display_name, role, hash, created_at, expires_at, revoked_at, last_used_at"

static void read_token(sqlite3_stmt *s, ep_token_row *t) {
  memset(t, 0, sizeof *t);
  t->id = sqlite3_column_int64(s, 0);
  t->user_id = sqlite3_column_int64(s, 1);
  ep__st_col_copy(s, 2, t->display_name, sizeof t->display_name);
  ep__st_col_copy(s, 3, t->role, sizeof t->role);
  const void *h = sqlite3_column_blob(s, 4);
  if (h && sqlite3_column_bytes(s, 4) == EP_TOKEN_HASH_BYTES)
    memcpy(t->hash, h, EP_TOKEN_HASH_BYTES);
  t->created_at = sqlite3_column_int64(s, 5);
  t->expires_at = sqlite3_column_int64(s, 6);
  t->revoked_at = sqlite3_column_int64(s, 7);
  t->last_used_at = sqlite3_column_int64(s, 8);
}

int ep_store_token_insert(ep_store *st, const ep_token_row *t, int64_t *id_out) {
  sqlite3_stmt *s = ep__st_prep(st, "INSERT INTO tokens(user_id, display_name, role, hash,"
                                    " created_at, expires_at) VALUES (?,?,?,?,?,?)");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, t->user_id);
  ep__st_bind_text(s, 2, t->display_name);
  ep__st_bind_text(s, 3, t->role);
  sqlite3_bind_blob(s, 4, t->hash, EP_TOKEN_HASH_BYTES, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 5, t->created_at);
  bind_opt_i64(s, 6, t->expires_at);
  int err = step_done(st, s);
  if (!err && id_out) *id_out = sqlite3_last_insert_rowid(st->db);
  return err;
}

static int token_one(ep_store *st, sqlite3_stmt *s, ep_token_row *out) {
  int rc = sqlite3_step(s), err = EP_OK;
  if (rc == SQLITE_ROW)
    read_token(s, out);
  else
    err = rc == SQLITE_DONE ? EP_ENOTFOUND : ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return err;
}

int ep_store_token_find_by_hash(ep_store *st, const unsigned char hash[EP_TOKEN_HASH_BYTES],
                                ep_token_row *out) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?");
  if (!s) return EP_EDB;
  sqlite3_bind_blob(s, 1, hash, EP_TOKEN_HASH_BYTES, SQLITE_TRANSIENT);
  return token_one(st, s, out);
}

int ep_store_token_get(ep_store *st, int64_t id, ep_token_row *out) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, id);
  return token_one(st, s, out);
}

static int token_set_time(ep_store *st, const char *sql, int64_t id, int64_t now) {
  sqlite3_stmt *s = ep__st_prep(st, sql);
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, now);
  sqlite3_bind_int64(s, 2, id);
  int err = step_done(st, s);
  if (!err && sqlite3_changes(st->db) == 0) err = EP_ENOTFOUND;
  return err;
}

int ep_store_token_touch(ep_store *st, int64_t id, int64_t now) {
  return token_set_time(st, "UPDATE tokens SET last_used_at = ? WHERE id = ?", id, now);
}

int ep_store_token_revoke(ep_store *st, int64_t id, int64_t now) {
  return token_set_time(st, "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                        id, now);
}

int ep_store_token_list(ep_store *st, int64_t user_id,
                        int (*cb)(void *ctx, const ep_token_row *t), void *ctx) {
  sqlite3_stmt *s =
      ep__st_prep(st, "SELECT " TOKEN_COLS " FROM tokens WHERE user_id = ? ORDER BY id");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, user_id);
  int rc, ret = EP_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ep_token_row t;
    read_token(s, &t);
    if ((ret = cb(ctx, &t))) break;
  }
  if (!ret && rc != SQLITE_DONE) ret = ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return ret;
}
