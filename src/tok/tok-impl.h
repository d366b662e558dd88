/* Private types of the tokenizer module: the loaded pipeline (normalizer,
 * pre-tokenizer, model, post-processor, decoder as small trees of tagged
 * nodes), hash maps, and the "normalized string" that carries, for every
 * byte, the byte range of the original input it came from (for offsets).
 * Everything reachable from an ep_tok lives in its arena `mem`. */
#ifndef EP_TOK_TOK_IMPL_H
#define EP_TOK_TOK_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "tok/tok.h"

/* ---- strings with offsets ------------------------------------------------ */
/* A view of normalized text: s[i] came from original bytes [beg[i], end[i]). */
typedef struct {
  const char *s;
  const uint32_t *beg, *end;
  size_t len;
} ep_nstr;

/* Growable builder (malloc'd scratch); ep_nb_finish copies into an arena. */
typedef struct {
  char *s;
  uint32_t *beg, *end;
  size_t len, cap;
  int oom;
} ep_nbuild;
void ep_nb_push(ep_nbuild *b, const char *p, size_t n, uint32_t beg, uint32_t end);
int ep_nb_finish(ep_nbuild *b, ep_arena *a, ep_nstr *out); /* resets b->len */
void ep_nb_free(ep_nbuild *b);
ep_nstr ep_nstr_sub(const ep_nstr *n, size_t off, size_t len);

/* Vector of pieces (malloc'd). */
typedef struct {
  ep_nstr *v;
  size_t n, cap;
} ep_pieces;
int ep_pieces_push(ep_pieces *p, ep_nstr s);
void ep_pieces_free(ep_pieces *p);

/* Vector of output tokens (malloc'd). */
typedef struct {
  ep_tok_span *v;
  size_t n, cap;
} ep_spanvec;
int ep_spanvec_push(ep_spanvec *v, int32_t id, uint32_t start, uint32_t stop);

/* ---- UTF-8 ----------------------------------------------------------------- */
/* Length of the valid UTF-8 char at s (max n bytes) and its code point; 0 if invalid. */
size_t ep_utf8_dec(const char *s, size_t n, int32_t *cp);
size_t ep_utf8_enc(int32_t cp, char out[4]);
int ep_utf8_valid(const char *s, size_t n);
/* Bytes at the end of s that form an incomplete (but so far valid) sequence. */
size_t ep_utf8_incomplete_tail(const char *s, size_t n);
/* Appends s to out, replacing invalid sequences by U+FFFD (maximal subparts). */
int ep_utf8_sanitize(ep_buf *out, const char *s, size_t n);

/* GPT-2 byte <-> unicode map. */
extern const uint16_t ep_bytelevel_cp[256]; /* byte -> code point */
int ep_bytelevel_byte(int32_t cp);          /* code point -> byte, -1 if not mapped */

/* ---- hash maps --------------------------------------------------------------- */
typedef struct {
  const char *s;
  uint32_t len;
  int32_t id;
} ep_strmap_ent;
typedef struct {
  ep_strmap_ent *e; /* cap slots, s == NULL when empty */
  size_t cap, n;
} ep_strmap;
int ep_strmap_put(ep_strmap *m, const char *s, size_t len, int32_t id); /* s borrowed */
int32_t ep_strmap_get(const ep_strmap *m, const char *s, size_t len);   /* -1 if absent */
void ep_strmap_free(ep_strmap *m);

/* ---- patterns (string literal or PCRE2 regex) ------------------------------- */
typedef struct {
  char *lit; /* literal when re == NULL */
  size_t litlen;
  pcre2_code *re;
} ep_tok_pattern;
/* Finds the next match at or after `from`; returns 1 and [*ms,*me), 0 if none, <0 on error. */
int ep_pattern_next(const ep_tok_pattern *p, const char *s, size_t len, size_t from, size_t *ms,
                    size_t *me, pcre2_match_data *md);

/* ---- pipeline nodes ------------------------------------------------------------ */
typedef struct ep_tok_node ep_tok_node;
struct ep_tok_node {
  int type; /* EP_TOK_N_* / EP_TOK_P_* / EP_TOK_D_* / EP_TOK_PP_* by role */
  ep_tok_node **kids;
  size_t nkids;
  ep_tok_pattern pat;
  char *str; /* Prepend/Replace content, Metaspace replacement, WordPiece prefix */
  size_t strlen;
  int a, b, c, d; /* role-specific flags, documented at each parser */
  /* post-processor templates */
  struct ep_tok_tmpl *single, *pair;
  size_t nsingle, npair;
};

typedef struct ep_tok_tmpl {
  int is_special; /* 1: ids below; 0: sequence `seq` (0 = A, 1 = B) */
  int seq;
  int32_t *ids;
  size_t nids;
  uint32_t type_id;
} ep_tok_tmpl;

enum { /* normalizers */
       EP_TOK_N_SEQ = 1,
       EP_TOK_N_PREPEND,
       EP_TOK_N_REPLACE,
       EP_TOK_N_NFC,
       EP_TOK_N_NFD,
       EP_TOK_N_NFKC,
       EP_TOK_N_NFKD,
       EP_TOK_N_LOWER,
       EP_TOK_N_STRIP,
       EP_TOK_N_BERT,
       EP_TOK_N_STRIPACC
};
enum { /* pre-tokenizers */
       EP_TOK_P_SEQ = 1,
       EP_TOK_P_BYTELEVEL,
       EP_TOK_P_METASPACE,
       EP_TOK_P_SPLIT,
       EP_TOK_P_BERT,
       EP_TOK_P_WHITESPACE,
       EP_TOK_P_WSSPLIT,
       EP_TOK_P_DIGITS,
       EP_TOK_P_PUNCT
};
enum { /* split behaviors */
       EP_TOK_SPLIT_REMOVED = 0,
       EP_TOK_SPLIT_ISOLATED,
       EP_TOK_SPLIT_PREV,
       EP_TOK_SPLIT_NEXT,
       EP_TOK_SPLIT_CONTIG
};
enum { EP_TOK_PREPEND_ALWAYS = 0, EP_TOK_PREPEND_FIRST, EP_TOK_PREPEND_NEVER };
enum { /* decoders */
       EP_TOK_D_SEQ = 1,
       EP_TOK_D_BYTELEVEL,
       EP_TOK_D_METASPACE,
       EP_TOK_D_BYTEFALLBACK,
       EP_TOK_D_FUSE,
       EP_TOK_D_STRIP,
       EP_TOK_D_REPLACE,
       EP_TOK_D_WORDPIECE
};
enum { /* post-processors */
       EP_TOK_PP_SEQ = 1,
       EP_TOK_PP_TEMPLATE,
       EP_TOK_PP_BYTELEVEL,
       EP_TOK_PP_BERT,
       EP_TOK_PP_ROBERTA
};

/* ---- models (small vtable) -------------------------------------------------- */
typedef struct ep_tok_model ep_tok_model;
struct ep_tok_model {
  /* Appends the tokens of one pre-tokenized piece to out. */
  int (*encode)(const ep_tok_model *m, const ep_nstr *word, ep_spanvec *out);
  void (*free)(ep_tok_model *m);
};

typedef struct {
  char *content;
  size_t len;
  int32_t id;
  int single_word, lstrip, rstrip, normalized, special;
} ep_tok_added;

struct ep_tok {
  ep_arena mem;
  /* id -> string (model vocab, overridden by added tokens) */
  char **pieces;
  uint32_t *plen;
  uint8_t *special;
  size_t n_ids, cap_ids; /* exact size (highest id + 1) and allocated slots */
  int64_t max_id;        /* largest id a tokenizer.json may use (bounds the id table) */
  ep_strmap vocab;       /* model vocabulary */
  ep_tok_model *model;
  ep_tok_node *norm, *pre, *post, *dec;
  ep_tok_added *added;
  size_t n_added;
  pcre2_code **regexes; /* owned, freed with the tokenizer */
  size_t n_regexes, cap_regexes;
  int32_t bos, eos, pad;
  char *bos_str, *eos_str, *chat_template;
  int add_bos, add_eos; /* used only without a post-processor */
};

/* load helpers shared by the component parsers (load.c) */
typedef struct json_t json_t;
#define ep_tok_fail ep_errf /* base/err.h: formats into err, returns code */
/* Compiles a UTF/UCP regex owned by t. */
int ep_tok_regex(ep_tok *t, const char *pat, size_t len, pcre2_code **out, char *err, size_t errsz);
int ep_tok_parse_pattern(ep_tok *t, json_t *j, ep_tok_pattern *p, char *err, size_t errsz);
int ep_tok_parse_normalizer(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz);
int ep_tok_parse_pretok(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz);
int ep_tok_parse_decoder(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz);
int ep_tok_parse_post(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz);
int ep_tok_bpe_load(ep_tok *t, json_t *model, char *err, size_t errsz);
int ep_tok_wordpiece_load(ep_tok *t, json_t *model, char *err, size_t errsz);
int ep_tok_wordpiece_new(ep_tok *t, int32_t unk, const char *prefix, size_t max_chars);
int ep_tok_set_piece(ep_tok *t, int32_t id, const char *s, size_t len); /* grows id table */
/* 1 when v is an integer id in [0, t->max_id], stored in *id. */
int ep_tok_json_id(const ep_tok *t, json_t *v, int32_t *id);

/* pipeline stages (per call; `a` is the call's arena) */
int ep_tok_normalize(const ep_tok_node *n, ep_arena *a, const ep_nstr *in, ep_nstr *out);
int ep_tok_pretokenize(const ep_tok_node *n, ep_arena *a, const ep_pieces *in, ep_pieces *out);
/* Post-processing of A (and B when b != NULL) into ids/type ids/spans. */
int ep_tok_post_apply(const ep_tok *t, const ep_spanvec *a, const ep_spanvec *b, ep_spanvec *out,
                      uint32_t **type_ids);
size_t ep_tok_post_count(const ep_tok *t, int pair); /* special tokens added */
/* Raw decoded bytes (no UTF-8 repair) appended to out. */
int ep_tok_decode_raw(const ep_tok *t, const int32_t *ids, size_t n, int skip_special, ep_buf *out);

#endif
