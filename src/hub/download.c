/* Downloads from a Hugging Face Hub compatible server (HF_ENDPOINT) into the
 * HF cache layout, the way huggingface_hub does: revision API for the commit
 * and file list, HEAD for the etag (X-Linked-Etag for LFS files), blobs named
 * by etag, snapshot symlinks, refs/<branch>. Resumes partial blobs with Range,
 * retries with exponential backoff, checks sha256 for LFS blobs, reports
 * progress, and stops on cancel. The token only ever goes into a header. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/time.h"
#include "hub/hub-impl.h"

typedef struct {
  char etag[160];
  char linked_etag[160];
  char commit[64];
  char location[2048];
  long long linked_size;
} resp_headers;

typedef struct {
  const ep_hub_params *p;
  const char *file;
  FILE *out;
  long long have;   /* bytes already on disk before this request */
  long long total;  /* expected size, -1 if unknown */
  uint64_t last_report_ms;
} xfer;

static void copy_value(char *dst, size_t dstsz, const char *v, size_t n) {
  while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
  while (n && *v == ' ') v++, n--;
  if (n >= 2 && v[0] == 'W' && v[1] == '/') v += 2, n -= 2;
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
  if (n >= dstsz) n = dstsz - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static size_t on_header(char *b, size_t sz, size_t n, void *ud) {
  resp_headers *h = ud;
  size_t len = sz * n;
  const char *colon = memchr(b, ':', len);
  if (!colon) return len;
  size_t klen = (size_t)(colon - b);
  const char *v = colon + 1;
  size_t vlen = len - klen - 1;
  char tmp[64];
  if (klen == 4 && !strncasecmp(b, "etag", 4)) copy_value(h->etag, sizeof h->etag, v, vlen);
  else if (klen == 13 && !strncasecmp(b, "x-linked-etag", 13))
    copy_value(h->linked_etag, sizeof h->linked_etag, v, vlen);
  else if (klen == 13 && !strncasecmp(b, "x-repo-commit", 13))
    copy_value(h->commit, sizeof h->commit, v, vlen);
  else if (klen == 8 && !strncasecmp(b, "location", 8))
    copy_value(h->location, sizeof h->location, v, vlen);
  else if (klen == 13 && !strncasecmp(b, "x-linked-size", 13)) {
    copy_value(tmp, sizeof tmp, v, vlen);
    h->linked_size = atoll(tmp);
  }
  return len;
}

static size_t on_body_buf(char *b, size_t sz, size_t n, void *ud) {
  ep_buf *buf = ud;
  if (buf->len + sz * n > (16u << 20)) return 0; /* API answers are small */
  return ep_buf_append(buf, b, sz * n) == EP_OK ? sz * n : 0;
}

static size_t on_body_file(char *b, size_t sz, size_t n, void *ud) {
  xfer *x = ud;
  return fwrite(b, sz, n, x->out) * sz;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut, curl_off_t un) {
  (void)ut;
  (void)un;
  xfer *x = ud;
  if (x->p->cancel && *x->p->cancel) return 1;
  uint64_t now = ep_mono_ms();
  if (x->p->progress && now - x->last_report_ms >= 1000) {
    long long total = x->total > 0 ? x->total : (long long)dltotal + x->have;
    long long got = (long long)dlnow + x->have;
    if (total > 0) {
      ep__hub_progress(x->p, "downloading %s %d%% %lld MB/%lld MB", x->file,
                       (int)(got * 100 / total), got >> 20, total >> 20);
    }
    x->last_report_ms = now;
  }
  return 0;
}

static CURL *easy(const ep_hub_params *p, const char *url, struct curl_slist **hdrs) {
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "endpointd/0.1 hf_hub-compatible");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  const char *tok = p->token ? p->token : getenv("HF_TOKEN");
  *hdrs = NULL;
  if (tok && *tok) {
    char h[1024];
    snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
    *hdrs = curl_slist_append(*hdrs, h);
    sodium_memzero(h, sizeof h);
  }
  if (*hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
  return c;
}

static const char *base_url(const ep_hub_params *p) {
  const char *e = p->endpoint ? p->endpoint : getenv("HF_ENDPOINT");
  return e && *e ? e : "https://huggingface.co";
}

static int status_error(long st, const char *repo, const char *what, char *err, size_t errsz) {
  if (st == 401 || st == 403) {
    snprintf(err, errsz,
             "repository '%s' is gated or private: the hub answered %ld for %s; set a hub token "
             "with access (HF_TOKEN)",
             repo, st, what);
    return EP_EUNAUTH;
  }
  if (st == 404) {
    snprintf(err, errsz, "%s not found on the hub (repository '%s')", what, repo);
    return EP_ENOTFOUND;
  }
  snprintf(err, errsz, "the hub answered HTTP %ld for %s", st, what);
  return EP_ECONN;
}

static void backoff(int attempt) {
  unsigned ms = 200u << (attempt < 6 ? attempt : 6);
  usleep(ms * 1000);
}

/* GET {endpoint}/api/models/{repo}/revision/{rev} -> JSON. */
static int fetch_revision(const ep_hub_params *p, const char *repo, const char *rev, json_t **out,
                          char *err, size_t errsz) {
  char url[4096];
  snprintf(url, sizeof url, "%s/api/models/%s/revision/%s", base_url(p), repo, rev);
  for (int attempt = 0;; attempt++) {
    ep_buf body = EP_BUF_INIT;
    struct curl_slist *h;
    CURL *c = easy(p, url, &h);
    if (!c) return EP_ENOMEM;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode cc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (cc == CURLE_OK && st == 200) {
      json_error_t je;
      *out = json_loadb(ep_buf_cstr(&body), body.len, 0, &je);
      ep_buf_free(&body);
      if (!*out) {
        snprintf(err, errsz, "invalid JSON from the hub for %s: %s", repo, je.text);
        return EP_EPARSE;
      }
      return EP_OK;
    }
    ep_buf_free(&body);
    int retryable = cc != CURLE_OK || st >= 500 || st == 429;
    if (!retryable || attempt + 1 >= p->max_retries) {
      if (cc != CURLE_OK) {
        snprintf(err, errsz, "cannot download '%s': cannot reach the hub at %s: %s", repo,
                 base_url(p), curl_easy_strerror(cc));
        return EP_ECONN;
      }
      char what[600];
      snprintf(what, sizeof what, "revision '%s'", rev);
      return status_error(st, repo, what, err, errsz);
    }
    if (p->cancel && *p->cancel) return EP_ECANCELED;
    backoff(attempt);
  }
}

static long long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int sha256_file(const char *path, char hex[65]) {
  FILE *f = fopen(path, "rb");
  if (!f) return EP_EIO;
  crypto_hash_sha256_state s;
  crypto_hash_sha256_init(&s);
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) crypto_hash_sha256_update(&s, buf, n);
  fclose(f);
  unsigned char d[32];
  crypto_hash_sha256_final(&s, d);
  sodium_bin2hex(hex, 65, d, 32);
  return EP_OK;
}

static int is_sha256(const char *s) {
  if (strlen(s) != 64) return 0;
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* Downloads one file of repo@commit into blobs/ and links it into the snapshot. */
static int fetch_file(const ep_hub_params *p, const char *root, const char *repo,
                      const char *commit, const char *file, char *err, size_t errsz) {
  char url[4096], link[4096];
  snprintf(link, sizeof link, "%s/snapshots/%s/%s", root, commit, file);
  if (ep__hub_is_file(link)) return EP_OK; /* already there: nothing to download */
  snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", base_url(p), repo, commit, file);

  /* HEAD without following redirects: the etag names the blob */
  resp_headers rh;
  long st = 0;
  for (int attempt = 0;; attempt++) {
    memset(&rh, 0, sizeof rh);
    rh.linked_size = -1;
    struct curl_slist *h;
    CURL *c = easy(p, url, &h);
    if (!c) return EP_ENOMEM;
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &rh);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_off_t cl = -1;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (rh.linked_size < 0 && st == 200) rh.linked_size = (long long)cl;
    if (cc == CURLE_OK && (st == 200 || (st >= 300 && st < 400))) break;
    int retryable = cc != CURLE_OK || st >= 500 || st == 429;
    if (!retryable || attempt + 1 >= p->max_retries) {
      if (cc != CURLE_OK) {
        snprintf(err, errsz, "downloading %s: %s", file, curl_easy_strerror(cc));
        return EP_ECONN;
      }
      return status_error(st, repo, file, err, errsz);
    }
    backoff(attempt);
  }
  const char *etag = rh.linked_etag[0] ? rh.linked_etag : rh.etag;
  if (!etag[0] || strchr(etag, '/') || strstr(etag, "..")) {
    snprintf(err, errsz, "the hub sent no usable ETag for %s", file);
    return EP_EPARSE;
  }
  char blob[4096], part[4200];
  snprintf(blob, sizeof blob, "%s/blobs/%s", root, etag);
  snprintf(part, sizeof part, "%s.incomplete", blob);
  if (!ep__hub_is_file(blob)) {
    for (int attempt = 0;; attempt++) {
      long long have = file_size(part);
      if (have < 0) have = 0;
      xfer x = {.p = p, .file = file, .have = have, .total = rh.linked_size};
      x.out = fopen(part, "ab");
      if (!x.out) {
        snprintf(err, errsz, "cannot write %s: %s", part, strerror(errno));
        return EP_EIO;
      }
      struct curl_slist *h;
      CURL *c = easy(p, url, &h);
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_file);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
      curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
      curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
      if (have > 0) {
        char range[64];
        snprintf(range, sizeof range, "%lld-", have);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
      }
      CURLcode cc = curl_easy_perform(c);
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
      curl_easy_cleanup(c);
      curl_slist_free_all(h);
      fclose(x.out);
      if (p->cancel && *p->cancel) {
        snprintf(err, errsz, "download of %s canceled", file);
        return EP_ECANCELED;
      }
      if (cc == CURLE_OK && st == 200 && have > 0) {
        /* server ignored Range: the file we appended to is wrong; restart */
        remove(part);
        continue;
      }
      long long now = file_size(part);
      int complete = cc == CURLE_OK && (st == 200 || st == 206) &&
                     (rh.linked_size < 0 || now == rh.linked_size);
      if (complete) break;
      if (st == 416) remove(part); /* our partial file is longer than the blob */
      int retryable = cc != CURLE_OK || st >= 500 || st == 429 || st == 206 || st == 200 || st == 416;
      if (!retryable || attempt + 1 >= p->max_retries) {
        if (cc != CURLE_OK) {
          snprintf(err, errsz, "downloading %s failed after %d attempts: %s", file, attempt + 1,
                   curl_easy_strerror(cc));
          return EP_ECONN;
        }
        return status_error(st, repo, file, err, errsz);
      }
      ep__hub_progress(p, "retrying %s after an interrupted download (%lld bytes kept)", file, now);
      backoff(attempt);
    }
    if (is_sha256(etag)) {
      char hex[65];
      if (sha256_file(part, hex) != EP_OK || strcmp(hex, etag) != 0) {
        remove(part);
        snprintf(err, errsz, "checksum mismatch for %s (sha256 %s, expected %s)", file, hex, etag);
        return EP_ECORRUPT;
      }
    }
    if (rename(part, blob) != 0) {
      snprintf(err, errsz, "cannot move %s into place: %s", file, strerror(errno));
      return EP_EIO;
    }
    ep__hub_progress(p, "downloaded %s (%lld bytes)", file, file_size(blob));
  }
  /* snapshot symlink, relative like huggingface_hub: ../../blobs/<etag> */
  char dir[4096], target[4096];
  snprintf(dir, sizeof dir, "%s", link);
  *strrchr(dir, '/') = '\0';
  if (ep__hub_mkdirs(dir) != EP_OK) {
    snprintf(err, errsz, "cannot create %s", dir);
    return EP_EIO;
  }
  size_t j = 0;
  j += snprintf(target + j, sizeof target - j, "../../");
  for (const char *s = file; *s; s++)
    if (*s == '/') j += snprintf(target + j, sizeof target - j, "../");
  snprintf(target + j, sizeof target - j, "blobs/%s", etag);
  remove(link);
  if (symlink(target, link) != 0) {
    snprintf(err, errsz, "cannot link %s: %s", link, strerror(errno));
    return EP_EIO;
  }
  return EP_OK;
}

int ep__hub_download(const ep_hub_params *p, const char *cache, const char *repo,
                     const char *revision, char *out, size_t outsz, char *err, size_t errsz) {
  static int curl_ready;
  if (!curl_ready) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_ready = 1;
  }
  if (sodium_init() < 0) return EP_EIO;
  const char *rev = revision && *revision ? revision : "main";
  json_t *info = NULL;
  int rc = fetch_revision(p, repo, rev, &info, err, errsz);
  if (rc) return rc;
  const char *sha = json_string_value(json_object_get(info, "sha"));
  json_t *sibs = json_object_get(info, "siblings");
  if (!ep__hub_is_commit(sha) || !json_is_array(sibs)) {
    snprintf(err, errsz, "the hub's answer for %s@%s has no commit sha or file list", repo, rev);
    json_decref(info);
    return EP_EPARSE;
  }
  char commit[41];
  snprintf(commit, sizeof commit, "%s", sha);
  int has_index = 0, has_st = 0, has_bin = 0, has_cfg = 0;
  size_t i;
  json_t *s;
  json_array_foreach(sibs, i, s) {
    const char *f = json_string_value(json_object_get(s, "rfilename"));
    if (!f) continue;
    if (!strcmp(f, "model.safetensors.index.json")) has_index = 1;
    if (!strcmp(f, "model.safetensors")) has_st = 1;
    if (!strcmp(f, "pytorch_model.bin") || !strcmp(f, "pytorch_model.bin.index.json")) has_bin = 1;
    if (!strcmp(f, "config.json")) has_cfg = 1;
  }
  if (!has_cfg) {
    snprintf(err, errsz, "repository '%s' has no config.json", repo);
    json_decref(info);
    return EP_EUNSUPPORTED;
  }
  if (!has_st && !has_index) {
    snprintf(err, errsz, "repository '%s' has no safetensors weights%s; endpointd loads model.safetensors", repo,
             has_bin ? " (only pytorch_model.bin)" : "");
    json_decref(info);
    return EP_EUNSUPPORTED;
  }
  char folder[512], root[4096];
  ep__hub_repo_folder(repo, folder, sizeof folder);
  snprintf(root, sizeof root, "%s/%s", cache, folder);
  char path[4200];
  snprintf(path, sizeof path, "%s/blobs", root);
  if (ep__hub_mkdirs(path) != EP_OK) {
    snprintf(err, errsz, "cannot create the cache folder %s", path);
    json_decref(info);
    return EP_EIO;
  }
  json_array_foreach(sibs, i, s) {
    const char *f = json_string_value(json_object_get(s, "rfilename"));
    if (!f || !ep__hub_file_wanted(f, p->task, has_index)) continue;
    if (strstr(f, "..") || f[0] == '/') continue;
    rc = fetch_file(p, root, repo, commit, f, err, errsz);
    if (rc) {
      json_decref(info);
      return rc;
    }
  }
  json_decref(info);
  if (!ep__hub_is_commit(rev)) {
    snprintf(path, sizeof path, "%s/refs", root);
    ep__hub_mkdirs(path);
    snprintf(path, sizeof path, "%s/refs/%s", root, rev);
    ep__hub_write_small(path, commit);
  }
  snprintf(out, outsz, "%s/snapshots/%s", root, commit);
  return EP_OK;
}
