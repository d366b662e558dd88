/* Stop sequences matched on decoded text. The generated text grows token by
 * token; ep_stop_find looks for the earliest occurrence of any stop string
 * that ends in the newly appended bytes, so each check costs O(new + max stop
 * length). Strings are borrowed. */
#ifndef EP_RT_STOP_H
#define EP_RT_STOP_H

#include <stddef.h>

/* text[0..len) is the whole generated text so far; bytes before `old_len`
 * were already checked. Returns the byte offset where the first matching stop
 * sequence starts (the text is trimmed there), or -1 when none matches.
 * Empty stop strings never match. *which gets the index of the match. */
long ep_stop_find(const char *text, size_t len, size_t old_len, const char *const *stops,
                  size_t nstops, size_t *which);

#endif
