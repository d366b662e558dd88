/* Stop-sequence matcher (see stop.h). A plain windowed search: only matches
 * that end after old_len can be new, so the scan starts max stop length - 1
 * bytes before old_len. Ties between stops go to the earliest start. */
#include "rt/stop.h"

#include <string.h>

long ep_stop_find(const char *text, size_t len, size_t old_len, const char *const *stops,
                  size_t nstops, size_t *which) {
  long best = -1;
  for (size_t k = 0; k < nstops; k++) {
    size_t sl = stops[k] ? strlen(stops[k]) : 0;
    if (sl == 0 || sl > len) continue;
    size_t from = old_len >= sl ? old_len - sl + 1 : 0;
    for (size_t i = from; i + sl <= len; i++) {
      if (best >= 0 && (long)i >= best) break;
      if (text[i] == stops[k][0] && memcmp(text + i, stops[k], sl) == 0) {
        best = (long)i;
        if (which) *which = k;
        break;
      }
    }
  }
  return best;
}
