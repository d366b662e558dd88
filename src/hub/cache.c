/* The Hugging Face cache layout, as huggingface_hub writes it:
 *   <cache>/models--{org}--{name}/refs/{revision}      (file holding a commit)
 *   <cache>/models--{org}--{name}/snapshots/{commit}/  (symlinks into blobs/)
 *   <cache>/models--{org}--{name}/blobs/{etag}
 * plus the platform's model store (<home>/models/<org>/<name>/), listing and
 * removal. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "hub/hub-impl.h"

ep_hub_params ep_hub_default_params(void) {
  ep_hub_params p;
  memset(&p, 0, sizeof p);
  p.offline = -1;
  p.max_retries = 4;
  return p;
}

void ep_hub_cache_dir(const ep_hub_params *p, char *out, size_t outsz) {
  const char *e;
  if (p && p->cache_dir) snprintf(out, outsz, "%s", p->cache_dir);
  else if ((e = getenv("HF_HUB_CACHE")) && *e) snprintf(out, outsz, "%s", e);
  else if ((e = getenv("HUGGINGFACE_HUB_CACHE")) && *e) snprintf(out, outsz, "%s", e);
  else if ((e = getenv("HF_HOME")) && *e) snprintf(out, outsz, "%s/hub", e);
  else if ((e = getenv("XDG_CACHE_HOME")) && *e) snprintf(out, outsz, "%s/huggingface/hub", e);
  else snprintf(out, outsz, "%s/.cache/huggingface/hub", getenv("HOME") ? getenv("HOME") : "/root");
}

int ep_hub_repo_valid(const char *repo) {
  size_t n = strlen(repo);
  if (n == 0 || n > 200 || repo[0] == '/' || repo[0] == '.' || strstr(repo, "..")) return 0;
  int slashes = 0;
  for (size_t i = 0; i < n; i++) {
    char c = repo[i];
    if (c == '/') {
      if (++slashes > 1 || i == 0 || i == n - 1) return 0;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.')) {
      return 0;
    }
  }
  return 1;
}

void ep__hub_repo_folder(const char *repo, char *out, size_t outsz) {
  size_t j = snprintf(out, outsz, "models--");
  for (const char *s = repo; *s && j + 3 < outsz; s++) {
    if (*s == '/') {
      out[j++] = '-';
      out[j++] = '-';
    } else {
      out[j++] = *s;
    }
  }
  out[j] = '\0';
}

int ep__hub_is_commit(const char *rev) {
  if (!rev || strlen(rev) != 40) return 0;
  for (int i = 0; i < 40; i++)
    if (!((rev[i] >= '0' && rev[i] <= '9') || (rev[i] >= 'a' && rev[i] <= 'f'))) return 0;
  return 1;
}

int ep__hub_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ep__hub_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ep__hub_mkdirs(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return EP_EIO;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return EP_EIO;
  return EP_OK;
}

int ep__hub_read_small(const char *path, char *out, size_t outsz) {
  FILE *f = fopen(path, "r");
  if (!f) return EP_ENOTFOUND;
  size_t n = fread(out, 1, outsz - 1, f);
  fclose(f);
  out[n] = '\0';
  while (n && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\r')) out[--n] = '\0';
  return EP_OK;
}

int ep__hub_write_small(const char *path, const char *text) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return EP_EIO;
  fputs(text, f);
  if (fclose(f) != 0 || rename(tmp, path) != 0) return EP_EIO;
  return EP_OK;
}

int ep__hub_cache_lookup(const char *cache, const char *repo, const char *revision, char *out,
                         size_t outsz) {
  char folder[512], path[4096], commit[128];
  ep__hub_repo_folder(repo, folder, sizeof folder);
  const char *rev = revision && *revision ? revision : "main";
  if (ep__hub_is_commit(rev)) {
    snprintf(commit, sizeof commit, "%s", rev);
  } else {
    if (strchr(rev, '/') && strstr(rev, "..")) return EP_EINVAL;
    snprintf(path, sizeof path, "%s/%s/refs/%s", cache, folder, rev);
    if (ep__hub_read_small(path, commit, sizeof commit) != EP_OK || !ep__hub_is_commit(commit))
      return EP_ENOTFOUND;
  }
  snprintf(path, sizeof path, "%s/%s/snapshots/%s", cache, folder, commit);
  char cfg[4200];
  snprintf(cfg, sizeof cfg, "%s/config.json", path);
  if (!ep__hub_is_file(cfg)) return EP_ENOTFOUND;
  snprintf(out, outsz, "%s", path);
  return EP_OK;
}

/* ---- listing ----------------------------------------------------------- */

static uint64_t g_sum; /* nftw has no user pointer; listing is not thread-hot */
static int sum_cb(const char *p, const struct stat *st, int type, struct FTW *f) {
  (void)p;
  (void)f;
  if (type == FTW_F) g_sum += (uint64_t)st->st_size;
  return 0;
}
static uint64_t dir_bytes(const char *dir) {
  g_sum = 0;
  nftw(dir, sum_cb, 16, FTW_PHYS);
  return g_sum;
}

static int push_model(ep_hub_model **out, size_t *n, size_t *cap, const ep_hub_model *m) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    ep_hub_model *p = realloc(*out, c * sizeof *p);
    if (!p) return EP_ENOMEM;
    *out = p;
    *cap = c;
  }
  (*out)[(*n)++] = *m;
  return EP_OK;
}

int ep_hub_list(const ep_hub_params *p, ep_hub_model **out, size_t *n) {
  size_t cap = 0;
  *out = NULL;
  *n = 0;
  char cache[2048], path[4096];
  ep_hub_cache_dir(p, cache, sizeof cache);
  DIR *d = opendir(cache);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, "models--", 8) != 0) continue;
    ep_hub_model m;
    memset(&m, 0, sizeof m);
    /* models--org--name -> org/name */
    const char *s = e->d_name + 8;
    const char *sep = strstr(s, "--");
    if (sep) snprintf(m.repo, sizeof m.repo, "%.*s/%s", (int)(sep - s), s, sep + 2);
    else snprintf(m.repo, sizeof m.repo, "%s", s);
    snprintf(path, sizeof path, "%s/%s/snapshots", cache, e->d_name);
    DIR *sd = opendir(path);
    struct dirent *se;
    while (sd && (se = readdir(sd))) {
      if (se->d_name[0] == '.') continue;
      snprintf(m.revision, sizeof m.revision, "%s", se->d_name);
    }
    if (sd) closedir(sd);
    snprintf(m.path, sizeof m.path, "%s/%s", cache, e->d_name);
    snprintf(m.source, sizeof m.source, "cache");
    snprintf(path, sizeof path, "%s/%s/blobs", cache, e->d_name);
    m.bytes = dir_bytes(path);
    if (push_model(out, n, &cap, &m)) break;
  }
  if (d) closedir(d);
  if (p && p->home) {
    char store[4096];
    snprintf(store, sizeof store, "%s/models", p->home);
    DIR *od = opendir(store);
    struct dirent *oe;
    while (od && (oe = readdir(od))) {
      if (oe->d_name[0] == '.') continue;
      char org[4096];
      snprintf(org, sizeof org, "%s/%s", store, oe->d_name);
      snprintf(path, sizeof path, "%s/config.json", org);
      if (ep__hub_is_file(path)) { /* a repo without org */
        ep_hub_model m = {0};
        snprintf(m.repo, sizeof m.repo, "%s", oe->d_name);
        snprintf(m.path, sizeof m.path, "%s", org);
        snprintf(m.source, sizeof m.source, "store");
        m.bytes = dir_bytes(org);
        push_model(out, n, &cap, &m);
        continue;
      }
      DIR *nd = opendir(org);
      struct dirent *ne;
      while (nd && (ne = readdir(nd))) {
        if (ne->d_name[0] == '.') continue;
        ep_hub_model m = {0};
        snprintf(m.path, sizeof m.path, "%s/%s", org, ne->d_name);
        snprintf(path, sizeof path, "%s/config.json", m.path);
        if (!ep__hub_is_file(path)) continue;
        snprintf(m.repo, sizeof m.repo, "%s/%s", oe->d_name, ne->d_name);
        snprintf(m.source, sizeof m.source, "store");
        m.bytes = dir_bytes(m.path);
        push_model(out, n, &cap, &m);
      }
      if (nd) closedir(nd);
    }
    if (od) closedir(od);
  }
  return EP_OK;
}

static int rm_cb(const char *p, const struct stat *st, int type, struct FTW *f) {
  (void)st;
  (void)type;
  (void)f;
  return remove(p);
}

int ep_hub_remove(const ep_hub_params *p, const char *repo, char *err, size_t errsz) {
  if (!ep_hub_repo_valid(repo)) {
    snprintf(err, errsz, "invalid repository id '%s'", repo);
    return EP_EINVAL;
  }
  char cache[2048], folder[512], path[4096];
  ep_hub_cache_dir(p, cache, sizeof cache);
  ep__hub_repo_folder(repo, folder, sizeof folder);
  int removed = 0;
  snprintf(path, sizeof path, "%s/%s", cache, folder);
  if (ep__hub_is_dir(path)) {
    if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) {
      snprintf(err, errsz, "could not remove %s", path);
      return EP_EIO;
    }
    removed = 1;
  }
  if (p && p->home) {
    snprintf(path, sizeof path, "%s/models/%s", p->home, repo);
    if (ep__hub_is_dir(path)) {
      if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        snprintf(err, errsz, "could not remove %s", path);
        return EP_EIO;
      }
      removed = 1;
    }
  }
  if (!removed) {
    snprintf(err, errsz, "model '%s' is not on disk", repo);
    return EP_ENOTFOUND;
  }
  return EP_OK;
}

void ep__hub_progress(const ep_hub_params *p, const char *fmt, ...) {
  if (!p->progress) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  p->progress(p->progress_ctx, line);
}
