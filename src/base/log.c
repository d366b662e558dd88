/* Structured line logger; see log.h. The level and sink are the process's
 * one logging setting (like redis' verbosity), written once at start-up. */
#include "base/log.h"

#include <stdarg.h>
#include <string.h>

#include "base/err.h"
#include "base/time.h"

static ep_log_level g_level = EP_LOG_INFO;
static FILE *g_file;

void ep_log_set_level(ep_log_level lvl) { g_level = lvl; }
ep_log_level ep_log_get_level(void) { return g_level; }
void ep_log_set_file(FILE *f) { g_file = f; }

int ep_log_parse_level(const char *s, ep_log_level *out) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (ep_log_level)i;
      return EP_OK;
    }
  return EP_EINVAL;
}

void ep_log(ep_log_level lvl, const char *msg, const char *fmt, ...) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  if (lvl < g_level) return;
  FILE *f = g_file ? g_file : stderr;
  char ts[32];
  ep_time_iso(ep_wall_ms(), ts, sizeof ts);
  char line[2048];
  int n = snprintf(line, sizeof line, "ts=%s level=%s msg=\"%s\"", ts, names[lvl], msg);
  if (fmt && n > 0 && (size_t)n < sizeof line - 2) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
  }
  fprintf(f, "%s\n", line);
  fflush(f);
}
