/* Endpoint rows (desired spec + observed status) and their event log. Each
 * public write runs in one transaction with its event, so a crash leaves
 * either the old or the new row, never half of one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "store/store-impl.h"

#define EP_COLS                                                                          \
  "id, namespace, name, type, spec, paused, scale_to_zero, state, message, error_message," \
  " url, ready_replica, target_replica, created_at, updated_at, created_by, updated_by,"  \
  " revision"

void ep_endpoint_row_clear(ep_endpoint_row *r) {
  free(r->spec);
  free(r->message);
  free(r->error_message);
  free(r->url);
  memset(r, 0, sizeof *r);
}

/* Fills r from the current row; with own=0 the text fields point into the
 * statement (valid until the next step) and must not be freed. */
static void read_row(sqlite3_stmt *s, ep_endpoint_row *r, int own) {
  memset(r, 0, sizeof *r);
  r->id = sqlite3_column_int64(s, 0);
  ep__st_col_copy(s, 1, r->ns, sizeof r->ns);
  ep__st_col_copy(s, 2, r->name, sizeof r->name);
  ep__st_col_copy(s, 3, r->type, sizeof r->type);
  if (own) {
    r->spec = ep__st_col_dup(s, 4);
    r->message = ep__st_col_dup(s, 8);
    r->error_message = ep__st_col_dup(s, 9);
    r->url = ep__st_col_dup(s, 10);
  } else {
    r->spec = (char *)sqlite3_column_text(s, 4);
    r->message = (char *)sqlite3_column_text(s, 8);
    r->error_message = (char *)sqlite3_column_text(s, 9);
    r->url = (char *)sqlite3_column_text(s, 10);
  }
  r->paused = sqlite3_column_int(s, 5);
  r->scale_to_zero = sqlite3_column_int(s, 6);
  ep__st_col_copy(s, 7, r->state, sizeof r->state);
  r->ready_replica = sqlite3_column_int(s, 11);
  r->target_replica = sqlite3_column_int(s, 12);
  r->created_at = sqlite3_column_int64(s, 13);
  r->updated_at = sqlite3_column_int64(s, 14);
  ep__st_col_copy(s, 15, r->created_by, sizeof r->created_by);
  ep__st_col_copy(s, 16, r->updated_by, sizeof r->updated_by);
  r->revision = sqlite3_column_int64(s, 17);
}

static int step_done(ep_store *st, sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  int err = rc == SQLITE_DONE ? EP_OK : ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return err;
}

int ep_store_event_append(ep_store *st, int64_t endpoint_id, int64_t ts, const char *kind,
                          const char *message) {
  sqlite3_stmt *s =
      ep__st_prep(st, "INSERT INTO events(endpoint_id, ts, kind, message) VALUES (?,?,?,?)");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, endpoint_id);
  sqlite3_bind_int64(s, 2, ts);
  ep__st_bind_text(s, 3, kind);
  ep__st_bind_text(s, 4, message ? message : "");
  int err = step_done(st, s);
  return err == EP_EEXISTS ? EP_ENOTFOUND : err;
}

int ep_store_endpoint_insert(ep_store *st, const ep_endpoint_row *r, int64_t *id_out) {
  int err = ep_store_begin(st);
  if (err) return err;
  sqlite3_stmt *s = ep__st_prep(
      st, "INSERT INTO endpoints(namespace, name, type, spec, paused, scale_to_zero, state,"
          " message, error_message, url, ready_replica, target_replica, created_at, updated_at,"
          " created_by, updated_by, revision) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)");
  if (!s) {
    ep_store_rollback(st);
    return EP_EDB;
  }
  ep__st_bind_text(s, 1, r->ns);
  ep__st_bind_text(s, 2, r->name);
  ep__st_bind_text(s, 3, r->type);
  ep__st_bind_text(s, 4, r->spec ? r->spec : "{}");
  sqlite3_bind_int(s, 5, r->paused);
  sqlite3_bind_int(s, 6, r->scale_to_zero);
  ep__st_bind_text(s, 7, r->state[0] ? r->state : "pending");
  ep__st_bind_text(s, 8, r->message);
  ep__st_bind_text(s, 9, r->error_message);
  ep__st_bind_text(s, 10, r->url);
  sqlite3_bind_int(s, 11, r->ready_replica);
  sqlite3_bind_int(s, 12, r->target_replica);
  sqlite3_bind_int64(s, 13, r->created_at);
  sqlite3_bind_int64(s, 14, r->updated_at);
  ep__st_bind_text(s, 15, r->created_by);
  ep__st_bind_text(s, 16, r->updated_by);
  err = step_done(st, s);
  int64_t id = sqlite3_last_insert_rowid(st->db);
  if (!err) err = ep_store_event_append(st, id, r->created_at, "created", "endpoint created");
  if (!err) err = ep_store_commit(st);
  if (err) {
    ep_store_rollback(st);
    return err;
  }
  if (id_out) *id_out = id;
  return EP_OK;
}

static int get_one(ep_store *st, sqlite3_stmt *s, ep_endpoint_row *out) {
  int rc = sqlite3_step(s), err = EP_OK;
  if (rc == SQLITE_ROW)
    read_row(s, out, 1);
  else
    err = rc == SQLITE_DONE ? EP_ENOTFOUND : ep__st_fail(st, rc);
  sqlite3_finalize(s);
  if (!err && !out->spec) {
    ep_endpoint_row_clear(out);
    return EP_ENOMEM;
  }
  return err;
}

int ep_store_endpoint_get(ep_store *st, const char *ns, const char *name, ep_endpoint_row *out) {
  sqlite3_stmt *s =
      ep__st_prep(st, "SELECT " EP_COLS " FROM endpoints WHERE namespace = ? AND name = ?");
  if (!s) return EP_EDB;
  ep__st_bind_text(s, 1, ns);
  ep__st_bind_text(s, 2, name);
  return get_one(st, s, out);
}

int ep_store_endpoint_get_by_id(ep_store *st, int64_t id, ep_endpoint_row *out) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT " EP_COLS " FROM endpoints WHERE id = ?");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, id);
  return get_one(st, s, out);
}

int ep_store_endpoint_list(ep_store *st, const char *ns,
                           int (*cb)(void *ctx, const ep_endpoint_row *r), void *ctx) {
  sqlite3_stmt *s = ep__st_prep(st, ns ? "SELECT " EP_COLS
                                         " FROM endpoints WHERE namespace = ? ORDER BY id"
                                       : "SELECT " EP_COLS " FROM endpoints ORDER BY id");
  if (!s) return EP_EDB;
  if (ns) ep__st_bind_text(s, 1, ns);
  int rc, ret = EP_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ep_endpoint_row r;
    read_row(s, &r, 0);
    if ((ret = cb(ctx, &r))) break;
  }
  if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW) ret = ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return ret;
}

int ep_store_endpoint_update(ep_store *st, ep_endpoint_row *r, int spec_changed,
                             const char *ev_kind, const char *ev_msg) {
  int err = ep_store_begin(st);
  if (err) return err;
  sqlite3_stmt *s = ep__st_prep(
      st, "UPDATE endpoints SET type = ?, spec = ?, paused = ?, scale_to_zero = ?, state = ?,"
          " message = ?, error_message = ?, url = ?, ready_replica = ?, target_replica = ?,"
          " updated_at = ?, updated_by = ?, revision = revision + ? WHERE id = ?");
  if (!s) {
    ep_store_rollback(st);
    return EP_EDB;
  }
  ep__st_bind_text(s, 1, r->type);
  ep__st_bind_text(s, 2, r->spec ? r->spec : "{}");
  sqlite3_bind_int(s, 3, r->paused);
  sqlite3_bind_int(s, 4, r->scale_to_zero);
  ep__st_bind_text(s, 5, r->state);
  ep__st_bind_text(s, 6, r->message);
  ep__st_bind_text(s, 7, r->error_message);
  ep__st_bind_text(s, 8, r->url);
  sqlite3_bind_int(s, 9, r->ready_replica);
  sqlite3_bind_int(s, 10, r->target_replica);
  sqlite3_bind_int64(s, 11, r->updated_at);
  ep__st_bind_text(s, 12, r->updated_by);
  sqlite3_bind_int(s, 13, spec_changed ? 1 : 0);
  sqlite3_bind_int64(s, 14, r->id);
  err = step_done(st, s);
  if (!err && sqlite3_changes(st->db) == 0) err = EP_ENOTFOUND;
  if (!err && ev_kind) err = ep_store_event_append(st, r->id, r->updated_at, ev_kind, ev_msg);
  if (!err) err = ep_store_commit(st);
  if (err) {
    ep_store_rollback(st);
    return err;
  }
  if (spec_changed) r->revision++;
  return EP_OK;
}

int ep_store_endpoint_set_status(ep_store *st, int64_t id, const ep_endpoint_status *stt,
                                 int64_t now) {
  if (!stt->state) return EP_EINVAL;
  int err = ep_store_begin(st);
  if (err) return err;
  char old[16] = "";
  sqlite3_stmt *q = ep__st_prep(st, "SELECT state FROM endpoints WHERE id = ?");
  if (!q) {
    ep_store_rollback(st);
    return EP_EDB;
  }
  sqlite3_bind_int64(q, 1, id);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) ep__st_col_copy(q, 0, old, sizeof old);
  sqlite3_finalize(q);
  if (rc != SQLITE_ROW) {
    ep_store_rollback(st);
    return rc == SQLITE_DONE ? EP_ENOTFOUND : EP_EDB;
  }
  sqlite3_stmt *s = ep__st_prep(
      st, "UPDATE endpoints SET state = ?, message = ?, error_message = ?, url = ?,"
          " ready_replica = ?, target_replica = ? WHERE id = ?");
  if (!s) {
    ep_store_rollback(st);
    return EP_EDB;
  }
  ep__st_bind_text(s, 1, stt->state);
  ep__st_bind_text(s, 2, stt->message);
  ep__st_bind_text(s, 3, stt->error_message);
  ep__st_bind_text(s, 4, stt->url);
  sqlite3_bind_int(s, 5, stt->ready_replica);
  sqlite3_bind_int(s, 6, stt->target_replica);
  sqlite3_bind_int64(s, 7, id);
  err = step_done(st, s);
  if (!err && strcmp(old, stt->state) != 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "state %s -> %s%s%s", old, stt->state,
             stt->error_message ? ": " : (stt->message ? ": " : ""),
             stt->error_message ? stt->error_message : (stt->message ? stt->message : ""));
    err = ep_store_event_append(st, id, now, "state", msg);
  }
  if (!err) err = ep_store_commit(st);
  if (err) ep_store_rollback(st);
  return err;
}

int ep_store_endpoint_delete(ep_store *st, int64_t id) {
  sqlite3_stmt *s = ep__st_prep(st, "DELETE FROM endpoints WHERE id = ?");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, id);
  int err = step_done(st, s);
  if (!err && sqlite3_changes(st->db) == 0) err = EP_ENOTFOUND;
  return err;
}

int ep_store_endpoint_count_by_state(ep_store *st,
                                     int (*cb)(void *ctx, const char *state, int64_t n),
                                     void *ctx) {
  sqlite3_stmt *s =
      ep__st_prep(st, "SELECT state, COUNT(*) FROM endpoints GROUP BY state ORDER BY state");
  if (!s) return EP_EDB;
  int rc, ret = EP_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *state = (const char *)sqlite3_column_text(s, 0);
    if ((ret = cb(ctx, state ? state : "", sqlite3_column_int64(s, 1)))) break;
  }
  if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW) ret = ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return ret;
}

int ep_store_event_list(ep_store *st, int64_t endpoint_id, int limit,
                        int (*cb)(void *ctx, const ep_event_row *e), void *ctx) {
  sqlite3_stmt *s = ep__st_prep(st, "SELECT id, endpoint_id, ts, kind, message FROM"
                                    " (SELECT * FROM events WHERE endpoint_id = ?"
                                    "  ORDER BY id DESC LIMIT ?) ORDER BY id");
  if (!s) return EP_EDB;
  sqlite3_bind_int64(s, 1, endpoint_id);
  sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
  int rc, ret = EP_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ep_event_row e = {sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                      sqlite3_column_int64(s, 2), (const char *)sqlite3_column_text(s, 3),
                      (const char *)sqlite3_column_text(s, 4)};
    if ((ret = cb(ctx, &e))) break;
  }
  if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW) ret = ep__st_fail(st, rc);
  sqlite3_finalize(s);
  return ret;
}
