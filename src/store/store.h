/* Durable state of the daemon in one SQLite file (WAL, foreign keys, busy
 * timeout, numbered migrations): users, orgs, memberships, tokens, endpoints
 * and their events. This module is the only includer of sqlite3.h; callers see
 * typed rows. Every public write is one transaction (atomic across a crash).
 *
 * Threading: one ep_store per thread (the daemon uses it on the loop thread).
 * Ownership: row structs are filled by the store; strings in fixed arrays are
 * copies, the char * fields of ep_endpoint_row are malloc'd and released by
 * ep_endpoint_row_clear(). Callback rows are borrowed for the call only. */
#ifndef EP_STORE_STORE_H
#define EP_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ep_store ep_store;

#define EP_NAME_MAX 64   /* user, org, namespace and endpoint names (bytes incl. NUL) */
#define EP_TEXT_MAX 256  /* short texts: fullname, email, display name */

/* Opens (creating if needed) the database at `path` and applies pending
 * migrations. ":memory:" works for tests. EP_EDB on failure. */
int ep_store_open(const char *path, ep_store **out);
void ep_store_close(ep_store *st);
int ep_store_schema_version(ep_store *st); /* highest applied migration, <0 on error */
int ep_store_migration_count(void);        /* migrations this build knows */
const char *ep_store_last_error(ep_store *st); /* sqlite message of the last failure */

/* Explicit transaction for multi-call changes (nesting not supported). */
int ep_store_begin(ep_store *st);
int ep_store_commit(ep_store *st);
void ep_store_rollback(ep_store *st);

/* ---- users, orgs, memberships -------------------------------------------- */
typedef struct {
  int64_t id;
  char name[EP_NAME_MAX];
  char fullname[EP_TEXT_MAX];
  char email[EP_TEXT_MAX];
  int is_admin;
  int64_t created_at; /* ms since epoch */
} ep_user;

typedef struct {
  int64_t id;
  char name[EP_NAME_MAX];
  char role[16]; /* the member's role when listed for a user, else "" */
} ep_org;

/* EP_EEXISTS when the name is taken by a user or an org. */
int ep_store_user_create(ep_store *st, const char *name, const char *fullname, const char *email,
                         int is_admin, int64_t now, int64_t *id_out);
int ep_store_user_get(ep_store *st, int64_t id, ep_user *out);               /* EP_ENOTFOUND */
int ep_store_user_get_by_name(ep_store *st, const char *name, ep_user *out); /* EP_ENOTFOUND */
int ep_store_user_list(ep_store *st, int (*cb)(void *ctx, const ep_user *u), void *ctx);

int ep_store_org_create(ep_store *st, const char *name, int64_t now, int64_t *id_out);
int ep_store_org_get_by_name(ep_store *st, const char *name, ep_org *out);
/* Adds or updates a membership (role "member" or "admin"). */
int ep_store_member_set(ep_store *st, int64_t user_id, int64_t org_id, const char *role);
/* 1 member, 0 not, <0 error. */
int ep_store_member_check(ep_store *st, int64_t user_id, const char *org_name);
int ep_store_user_orgs(ep_store *st, int64_t user_id, int (*cb)(void *ctx, const ep_org *o),
                       void *ctx);

/* ---- tokens ---------------------------------------------------------------- */
#define EP_TOKEN_HASH_BYTES 32

typedef struct {
  int64_t id;
  int64_t user_id;
  char display_name[EP_TEXT_MAX];
  char role[8]; /* "read" | "write" */
  unsigned char hash[EP_TOKEN_HASH_BYTES];
  int64_t created_at, expires_at, revoked_at, last_used_at; /* ms; 0 = none */
} ep_token_row;

int ep_store_token_insert(ep_store *st, const ep_token_row *t, int64_t *id_out);
int ep_store_token_find_by_hash(ep_store *st, const unsigned char hash[EP_TOKEN_HASH_BYTES],
                                ep_token_row *out); /* EP_ENOTFOUND */
int ep_store_token_get(ep_store *st, int64_t id, ep_token_row *out);
int ep_store_token_touch(ep_store *st, int64_t id, int64_t now);  /* last_used_at */
int ep_store_token_revoke(ep_store *st, int64_t id, int64_t now); /* EP_ENOTFOUND */
int ep_store_token_list(ep_store *st, int64_t user_id,
                        int (*cb)(void *ctx, const ep_token_row *t), void *ctx);

/* ---- endpoints -------------------------------------------------------------- */
typedef struct {
  int64_t id;
  char ns[EP_NAME_MAX];
  char name[EP_NAME_MAX];
  char type[16];       /* public | protected | authenticated | private */
  char *spec;          /* canonical spec JSON text (owned) */
  /* desired state written by the management plane */
  int paused;          /* 1: keep at zero replicas, never wake */
  int scale_to_zero;   /* 1: zero replicas until the next request wakes it */
  /* observed status written by the reconciler */
  char state[16];      /* pending | initializing | updating | updateFailed | running | ... */
  char *message;       /* owned, may be NULL */
  char *error_message; /* owned, may be NULL */
  char *url;           /* owned, may be NULL */
  int ready_replica, target_replica;
  int64_t created_at, updated_at; /* ms */
  char created_by[EP_NAME_MAX], updated_by[EP_NAME_MAX];
  int64_t revision; /* +1 on every spec change */
} ep_endpoint_row;

void ep_endpoint_row_clear(ep_endpoint_row *r); /* frees owned strings, zeroes */

/* Inserts with revision 1; EP_EEXISTS when (ns, name) is taken. Appends a
 * "created" event in the same transaction. */
int ep_store_endpoint_insert(ep_store *st, const ep_endpoint_row *r, int64_t *id_out);
int ep_store_endpoint_get(ep_store *st, const char *ns, const char *name, ep_endpoint_row *out);
int ep_store_endpoint_get_by_id(ep_store *st, int64_t id, ep_endpoint_row *out);
/* Lists endpoints of one namespace (ns != NULL) or all of them, ordered by
 * id. The callback's row is borrowed; a non-zero return stops the walk and is
 * returned. */
int ep_store_endpoint_list(ep_store *st, const char *ns,
                           int (*cb)(void *ctx, const ep_endpoint_row *r), void *ctx);
/* Writes the desired part (type, spec, paused, scale_to_zero, updated_at,
 * updated_by) and the status part of r, bumping the revision when
 * spec_changed, and appends event (kind, msg) when kind != NULL; one
 * transaction. r->revision is updated. */
int ep_store_endpoint_update(ep_store *st, ep_endpoint_row *r, int spec_changed,
                             const char *ev_kind, const char *ev_msg);

typedef struct {
  const char *state; /* required */
  const char *message, *error_message, *url; /* NULL = clear */
  int ready_replica, target_replica;
} ep_endpoint_status;

/* Reconciler's status write; appends a "state" event when the state changes. */
int ep_store_endpoint_set_status(ep_store *st, int64_t id, const ep_endpoint_status *s,
                                 int64_t now);
int ep_store_endpoint_delete(ep_store *st, int64_t id); /* events cascade; EP_ENOTFOUND */
/* Counts endpoints per state: cb(state, count). */
int ep_store_endpoint_count_by_state(ep_store *st, int (*cb)(void *ctx, const char *state,
                                                              int64_t n), void *ctx);

/* ---- events ------------------------------------------------------------------ */
typedef struct {
  int64_t id, endpoint_id, ts;
  const char *kind, *message; /* borrowed in callbacks */
} ep_event_row;

int ep_store_event_append(ep_store *st, int64_t endpoint_id, int64_t ts, const char *kind,
                          const char *message);
/* The newest `limit` events in time order (limit <= 0: all). */
int ep_store_event_list(ep_store *st, int64_t endpoint_id, int limit,
                        int (*cb)(void *ctx, const ep_event_row *e), void *ctx);

#endif
