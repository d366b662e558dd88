/* Structured logging: one line per event, `ts=... level=... msg="..." k=v`.
 * The log level is process-wide (set once at start-up). Never pass tokens or
 * secrets to these functions. */
#ifndef EP_BASE_LOG_H
#define EP_BASE_LOG_H

#include <stdio.h>

typedef enum { EP_LOG_DEBUG = 0, EP_LOG_INFO, EP_LOG_WARN, EP_LOG_ERROR } ep_log_level;

void ep_log_set_level(ep_log_level lvl);
ep_log_level ep_log_get_level(void);
int ep_log_parse_level(const char *s, ep_log_level *out); /* "debug|info|warn|error" */
void ep_log_set_file(FILE *f);                            /* default stderr */

/* fmt produces the key=value tail after msg; may be NULL. */
void ep_log(ep_log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ep_log_debug(msg, ...) ep_log(EP_LOG_DEBUG, msg, __VA_ARGS__)
#define ep_log_info(msg, ...) ep_log(EP_LOG_INFO, msg, __VA_ARGS__)
#define ep_log_warn(msg, ...) ep_log(EP_LOG_WARN, msg, __VA_ARGS__)
#define ep_log_error(msg, ...) ep_log(EP_LOG_ERROR, msg, __VA_ARGS__)

#endif
