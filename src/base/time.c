/* Clocks and ISO-8601 UTC timestamps with milliseconds (API.md Part A §2). */
#include "base/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/err.h"

uint64_t ep_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ep_mono_ms(void) { return ep_mono_ns() / 1000000ull; }

int64_t ep_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ep_time_iso(int64_t wall_ms, char *out, size_t outsz) {
  time_t secs = (time_t)(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

int ep_time_parse_iso(const char *s, int64_t *wall_ms) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int ms = 0, n = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &n) != 6)
    return EP_EPARSE;
  const char *p = s + n;
  if (*p == '.') {
    int digits = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, digits++)
      if (digits < 3) ms = ms * 10 + (*p - '0');
    for (; digits < 3; digits++) ms *= 10;
  }
  if (strcmp(p, "Z") != 0) return EP_EPARSE;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *wall_ms = (int64_t)timegm(&tm) * 1000 + ms;
  return EP_OK;
}
