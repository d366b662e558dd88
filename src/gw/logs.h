/* Per-endpoint replica log files (<home>/logs/<ns>/<name>.log, rotated once
 * to .log.1 by the supervisor): reading the last lines / the lines since a
 * time, and followers that stream appended lines to HTTP clients (chunked
 * text/plain), polled on one uv timer while anyone follows. Loop thread only.
 *
 * Ownership: ep_logs is created by ep_logs_init and freed by ep_logs_free
 * (which ends every follow stream; run the loop afterwards so the timer
 * closes). A follower owns its request until the stream ends. */
#ifndef EP_GW_LOGS_H
#define EP_GW_LOGS_H

#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "http/http.h"

/* Appends to out the lines of path.1 then path whose ISO timestamp prefix is
 * at or after since_ms (0 = all; a line without a timestamp goes with the
 * line before it), keeping only the last `tail` lines (0 = all). */
void ep_logs_read(const char *path, int tail, int64_t since_ms, ep_buf *out);

/* 1 when line (length n) starts with an ISO timestamp; copies its 24
 * characters into ts (>= 25 bytes). */
int ep_logs_line_ts(const char *line, size_t n, char *ts);

typedef struct ep_logs ep_logs;

/* poll_ms: how often followed files are checked (0 = 200);
 * max_per_key: followers allowed per endpoint (0 = 8). */
int ep_logs_init(uv_loop_t *loop, unsigned poll_ms, int max_per_key, ep_logs **out);
/* Starts a follow stream on req for the log at path (key = "ns/name"):
 * sends the head and `first`, then what is appended from now on. Returns 0
 * (req taken) or 429 when key has max_per_key followers already, 503 after
 * ep_logs_end(l, NULL) (stopping), 500 when out of memory (req untouched). */
int ep_logs_follow(ep_logs *l, ep_http_req *req, const char *key, const char *path,
                   const char *first, size_t len);
/* Ends the follow streams of key (NULL: all, and refuse new ones), after
 * sending what is left. */
void ep_logs_end(ep_logs *l, const char *key);
/* Number of followers of key (NULL: all). */
int ep_logs_count(const ep_logs *l, const char *key);
void ep_logs_free(ep_logs *l);

#endif
