/* Streaming detokenizer: keeps a short window of ids, decodes the window to
 * raw bytes, and emits only the part past what was already emitted that ends
 * on a complete UTF-8 character. Once everything in the window has been
 * emitted, the window shrinks to its last id, which stays as left context so
 * position-dependent decoders (Strip, Metaspace, WordPiece spacing) see the
 * same neighbourhood as in a full decode. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tok/tok-impl.h"

struct ep_tok_stream {
  const ep_tok *t;
  int skip_special;
  int32_t *ids; /* window */
  size_t n, cap;
  size_t emitted; /* bytes of decode_raw(window) already given out */
};

ep_tok_stream *ep_tok_stream_new(const ep_tok *t, int skip_special) {
  ep_tok_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->t = t;
  s->skip_special = skip_special;
  return s;
}

void ep_tok_stream_free(ep_tok_stream *s) {
  if (!s) return;
  free(s->ids);
  free(s);
}

int ep_tok_stream_push(ep_tok_stream *s, int32_t id, ep_buf *out) {
  const ep_tok *t = s->t;
  if (id < 0 || (size_t)id >= t->n_ids || !t->pieces[id]) return EP_ERANGE;
  if (s->skip_special && t->special[id]) return EP_OK;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    int32_t *p = realloc(s->ids, cap * sizeof *p);
    if (!p) return EP_ENOMEM;
    s->ids = p;
    s->cap = cap;
  }
  s->ids[s->n++] = id;
  ep_buf raw = EP_BUF_INIT;
  int rc = ep_tok_decode_raw(t, s->ids, s->n, s->skip_special, &raw);
  if (rc) {
    s->n--;
    ep_buf_free(&raw);
    return rc;
  }
  const char *r = raw.data ? raw.data : "";
  size_t complete = raw.len - ep_utf8_incomplete_tail(r, raw.len);
  if (complete > s->emitted) {
    rc = ep_utf8_sanitize(out, r + s->emitted, complete - s->emitted);
    s->emitted = complete;
  }
  if (!rc && s->emitted == raw.len && s->n > 1) {
    /* all out: keep only the last id as context */
    s->ids[0] = s->ids[s->n - 1];
    s->n = 1;
    ep_buf_reset(&raw);
    rc = ep_tok_decode_raw(t, s->ids, 1, s->skip_special, &raw);
    s->emitted = raw.len;
  }
  ep_buf_free(&raw);
  return rc;
}

int ep_tok_stream_finish(ep_tok_stream *s, ep_buf *out) {
  ep_buf raw = EP_BUF_INIT;
  int rc = ep_tok_decode_raw(s->t, s->ids, s->n, s->skip_special, &raw);
  if (!rc && raw.len > s->emitted)
    rc = ep_utf8_sanitize(out, raw.data + s->emitted, raw.len - s->emitted);
  ep_buf_free(&raw);
  s->n = 0;
  s->emitted = 0;
  return rc;
}
