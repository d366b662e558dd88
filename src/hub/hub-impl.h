/* Private to src/hub: helpers shared by cache.c, download.c and resolve.c. */
#ifndef EP_HUB_IMPL_H
#define EP_HUB_IMPL_H

#include "hub/hub.h"

/* "org/name" -> "models--org--name" */
void ep__hub_repo_folder(const char *repo, char *out, size_t outsz);
int ep__hub_is_commit(const char *rev); /* 40 lowercase hex chars */
int ep__hub_mkdirs(const char *path);   /* mkdir -p */
int ep__hub_is_dir(const char *path);
int ep__hub_is_file(const char *path);
int ep__hub_read_small(const char *path, char *out, size_t outsz); /* trimmed */
int ep__hub_write_small(const char *path, const char *text);
/* Looks up repo@revision in the HF cache; EP_OK and the snapshot folder. */
int ep__hub_cache_lookup(const char *cache, const char *repo, const char *revision, char *out,
                         size_t outsz);
/* Downloads repo@revision into the cache; out = snapshot folder. */
int ep__hub_download(const ep_hub_params *p, const char *cache, const char *repo,
                     const char *revision, char *out, size_t outsz, char *err, size_t errsz);
/* 1 if a repository file is needed for the task (given the other files). */
int ep__hub_file_wanted(const char *file, const char *task, int has_index);
void ep__hub_progress(const ep_hub_params *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
