/* The runtime's encoder face (TEI-compatible): the object that serves
 * feature-extraction, sentence-similarity and text-classification with the
 * TEI routes (/embed, /embed_all, /predict, /rerank, /similarity, /tokenize,
 * /decode, /v1/embeddings, POST / by task, /info, /health, /metrics).
 * server.c creates it instead of the generation scheduler when --task names
 * an encoder task, and forwards load/handle/close/free to it.
 *
 * Threads: loop-thread API. The model loads on a helper thread; inference runs
 * on one compute thread that batches queued requests of the same kind.
 * Ownership: ep_tei_new returns a caller-owned object; ep_tei_close stops the
 * compute thread (queued requests answered 503) and closes its loop handles,
 * then calls done; ep_tei_free after that. */
#ifndef EP_RT_TEI_H
#define EP_RT_TEI_H

#include <uv.h>

#include "http/http.h"
#include "rt/server.h"

typedef struct ep_tei ep_tei;

/* 1 for feature-extraction, sentence-similarity, text-classification (and
 * sentence-embeddings / sentence-transformers aliases), else 0. */
int ep_tei_is_task(const char *task);
int ep_tei_new(uv_loop_t *loop, const ep_rt_params *p, const char *model_id, ep_tei **out);
int ep_tei_load_start(ep_tei *t);
int ep_tei_ready(const ep_tei *t); /* 1 ready, -1 failed, 0 loading */
const char *ep_tei_load_error(const ep_tei *t);
void ep_tei_handle(ep_http_req *req, void *ctx); /* ctx = the ep_tei */
void ep_tei_close(ep_tei *t, void (*done)(void *), void *ctx);
void ep_tei_free(ep_tei *t);

#endif
