/* Download manager for the daemon: resolves an endpoint's repository on the
 * loop thread without blocking it. A repository already on disk (local folder,
 * model store, HF cache) resolves at once; otherwise one download per
 * repo@revision runs on the libuv thread pool (shared by every endpoint that
 * needs it), its progress lines are passed to `notify` for each waiting
 * endpoint, and `notify` fires once more when it ends so the caller can
 * resolve again. A download nobody waits for any more is canceled.
 * Loop thread only. */
#ifndef EP_HUB_DLMGR_H
#define EP_HUB_DLMGR_H

#include <stddef.h>
#include <uv.h>

typedef struct ep_dlmgr ep_dlmgr;

/* line: a line for the endpoint's log (progress, or the outcome when ended).
 * ended = 1 once per waiter when the download finished or failed: resolve
 * again to get the folder or the error. Strings are borrowed for the call. */
typedef void (*ep_dlmgr_notify)(void *ctx, const char *ns, const char *name, const char *line,
                                int ended);

int ep_dlmgr_init(uv_loop_t *loop, const char *home, ep_dlmgr_notify notify, void *ctx,
                  ep_dlmgr **out);
/* Cancels running downloads and frees once their workers returned (the loop
 * must keep running until then). */
void ep_dlmgr_free(ep_dlmgr *m);

/* Resolves repo@revision for endpoint ns/name.
 *   EP_OK:    dir holds the model folder.
 *   EP_EBUSY: a download is running; msg holds a status line ("downloading ...").
 *   other:    msg holds the reason (gated repo, not found, offline, no safetensors...).
 * allow_download = 0 only looks on disk (EP_ENOTFOUND when absent). */
int ep_dlmgr_resolve(ep_dlmgr *m, const char *ns, const char *name, const char *repo,
                     const char *revision, const char *task, int allow_download, char *dir,
                     size_t dirsz, char *msg, size_t msgsz);
/* The endpoint no longer needs a model (deleted or changed). */
void ep_dlmgr_forget(ep_dlmgr *m, const char *ns, const char *name);

#endif
