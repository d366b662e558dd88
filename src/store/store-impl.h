/* Private helpers shared by the store's source files: the handle, statement
 * preparation and column copying. Not for use outside src/store/. */
#ifndef EP_STORE_IMPL_H
#define EP_STORE_IMPL_H

#include <sqlite3.h>

#include "store/store.h"

struct ep_store {
  sqlite3 *db;
  char err[256]; /* last sqlite error text */
};

/* Prepares sql; returns NULL (and records the error) on failure. */
sqlite3_stmt *ep__st_prep(ep_store *st, const char *sql);
/* Records sqlite's message and maps rc to an ep_err (constraint -> EXISTS). */
int ep__st_fail(ep_store *st, int rc);
int ep__st_exec(ep_store *st, const char *sql);
/* Copies column i (text or NULL) into a fixed buffer. */
void ep__st_col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap);
/* malloc'd copy of column i, NULL for SQL NULL. */
char *ep__st_col_dup(sqlite3_stmt *s, int i);
void ep__st_bind_text(sqlite3_stmt *s, int i, const char *v); /* NULL -> SQL NULL */

#endif
