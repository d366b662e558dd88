/* safetensors reader: mmap + header validation + sorted name index.
 * Every check that can fail on a hostile file is done here, once, so that
 * callers can trust shapes, byte lengths and pointers afterwards. */
#include "fmt/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* 100 MiB, as the reference implementation */

typedef struct {
  char *path;
  const char *base; /* points into path */
  void *map;
  size_t size;
} st_file;

struct ep_st {
  st_file *files;
  size_t nfiles;
  ep_st_tensor *t; /* sorted by name after open */
  size_t nt, cap;
};

static const struct {
  const char *name;
  size_t size;
} k_dtypes[] = {
    [EP_ST_F32] = {"F32", 4}, [EP_ST_F16] = {"F16", 2}, [EP_ST_BF16] = {"BF16", 2},
    [EP_ST_F64] = {"F64", 8}, [EP_ST_I64] = {"I64", 8}, [EP_ST_I32] = {"I32", 4},
    [EP_ST_I16] = {"I16", 2}, [EP_ST_I8] = {"I8", 1},   [EP_ST_U8] = {"U8", 1},
    [EP_ST_BOOL] = {"BOOL", 1},
};

size_t ep_st_dtype_size(ep_st_dtype dt) { return k_dtypes[dt].size; }
const char *ep_st_dtype_name(ep_st_dtype dt) { return k_dtypes[dt].name; }
int ep_st_dtype_parse(const char *s) {
  for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
    if (strcmp(s, k_dtypes[i].name) == 0) return (int)i;
  return -1;
}

void ep_st_free(ep_st *st) {
  if (!st) return;
  for (size_t i = 0; i < st->nfiles; i++) {
    if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
    free(st->files[i].path);
  }
  for (size_t i = 0; i < st->nt; i++) free((char *)st->t[i].name);
  free(st->files);
  free(st->t);
  free(st);
}

static int span_cmp(const void *a, const void *b) {
  const ep_st_tensor *x = *(const ep_st_tensor *const *)a, *y = *(const ep_st_tensor *const *)b;
  const char *px = x->data, *py = y->data;
  return px < py ? -1 : px > py ? 1 : 0;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(((const ep_st_tensor *)a)->name, ((const ep_st_tensor *)b)->name);
}

/* Parses one "name": {dtype, shape, data_offsets} entry into t. */
static int st_parse_entry(const st_file *f, const char *name, json_t *v, const uint8_t *data0,
                          size_t datalen, ep_st_tensor *t, char *err, size_t errsz) {
  if (!json_is_object(v))
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: tensor '%s': entry is not an object", f->base, name);
  json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
         *jo = json_object_get(v, "data_offsets");
  if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
    return ep_errf(err, errsz, EP_ECORRUPT,
                   "%s: tensor '%s': needs string dtype, array shape, 2 data_offsets", f->base, name);
  int dt = ep_st_dtype_parse(json_string_value(jd));
  if (dt < 0)
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: tensor '%s': unknown dtype '%s'", f->base, name,
                   json_string_value(jd));
  size_t nd = json_array_size(js);
  if (nd > EP_ST_MAX_DIMS)
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: tensor '%s': %zu dims (max %d)", f->base, name, nd,
                   EP_ST_MAX_DIMS);
  memset(t, 0, sizeof *t);
  t->dtype = (ep_st_dtype)dt;
  t->ndim = (int)nd;
  t->file = f->base;
  uint64_t numel = 1;
  for (size_t i = 0; i < nd; i++) {
    json_t *d = json_array_get(js, i);
    if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > ((int64_t)1 << 40))
      return ep_errf(err, errsz, EP_ECORRUPT, "%s: tensor '%s': bad shape[%zu]", f->base, name, i);
    t->shape[i] = json_integer_value(d);
    if (t->shape[i] && numel > (UINT64_MAX >> 4) / (uint64_t)t->shape[i])
      return ep_errf(err, errsz, EP_ECORRUPT, "%s: tensor '%s': shape overflows", f->base, name);
    numel *= (uint64_t)t->shape[i];
  }
  json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
  if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
      json_integer_value(je) < json_integer_value(jb))
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: tensor '%s': bad data_offsets", f->base, name);
  uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
  if (e > datalen)
    return ep_errf(err, errsz, EP_ECORRUPT,
                   "%s: tensor '%s': data_offsets [%llu, %llu) past end of data (%zu bytes)", f->base,
                   name, (unsigned long long)b, (unsigned long long)e, datalen);
  uint64_t want = numel * k_dtypes[dt].size;
  if (e - b != want)
    return ep_errf(err, errsz, EP_ECORRUPT,
                   "%s: tensor '%s': %llu bytes but shape x %s needs %llu", f->base, name,
                   (unsigned long long)(e - b), k_dtypes[dt].name, (unsigned long long)want);
  t->numel = (int64_t)numel;
  t->data = data0 + b;
  t->nbytes = (size_t)(e - b);
  if (!(t->name = strdup(name))) return EP_ENOMEM;
  return EP_OK;
}

/* Maps and validates one file; appends its tensors to st. */
static int st_add_file(ep_st *st, const char *path, char *err, size_t errsz) {
  st_file *nf = realloc(st->files, (st->nfiles + 1) * sizeof *nf);
  if (!nf) return EP_ENOMEM;
  st->files = nf;
  st_file *f = &st->files[st->nfiles];
  memset(f, 0, sizeof *f);
  if (!(f->path = strdup(path))) return EP_ENOMEM;
  st->nfiles++;
  const char *slash = strrchr(f->path, '/');
  f->base = slash ? slash + 1 : f->path;

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ep_errf(err, errsz, errno == ENOENT ? EP_ENOTFOUND : EP_EIO, "%s: %s", path,
                   strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return ep_errf(err, errsz, EP_EIO, "%s: not a regular file", path);
  }
  if (sb.st_size < 8) {
    close(fd);
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: truncated (%lld bytes, header length needs 8)",
                   f->base, (long long)sb.st_size);
  }
  f->size = (size_t)sb.st_size;
  void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return ep_errf(err, errsz, EP_EIO, "%s: mmap: %s", path, strerror(errno));
  f->map = m;
  const uint8_t *p = m;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
  if (n > ST_MAX_HEADER)
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: header length %llu exceeds the 100 MiB limit",
                   f->base, (unsigned long long)n);
  if (n + 8 > f->size)
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: header length %llu larger than the file (%zu bytes)",
                   f->base, (unsigned long long)n, f->size);
  json_error_t je;
  json_t *root = json_loadb((const char *)p + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: header is not valid JSON: %s (offset %d)", f->base,
                   je.text, je.position);
  if (!json_is_object(root)) {
    json_decref(root);
    return ep_errf(err, errsz, EP_ECORRUPT, "%s: header is not a JSON object", f->base);
  }
  const uint8_t *data0 = p + 8 + n;
  size_t datalen = f->size - 8 - (size_t)n;
  size_t first = st->nt;
  const char *key;
  json_t *v;
  int rc = EP_OK;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "__metadata__") == 0) continue;
    if (st->nt == st->cap) {
      size_t nc = st->cap ? st->cap * 2 : 64;
      ep_st_tensor *nt = realloc(st->t, nc * sizeof *nt);
      if (!nt) { rc = EP_ENOMEM; break; }
      st->t = nt;
      st->cap = nc;
    }
    if ((rc = st_parse_entry(f, key, v, data0, datalen, &st->t[st->nt], err, errsz)) != EP_OK) break;
    st->nt++;
  }
  json_decref(root);
  if (rc != EP_OK) return rc;
  /* overlap check over this file's tensors, sorted by start */
  size_t cnt = st->nt - first;
  if (cnt > 1) {
    const ep_st_tensor **ord = malloc(cnt * sizeof *ord);
    if (!ord) return EP_ENOMEM;
    for (size_t i = 0; i < cnt; i++) ord[i] = &st->t[first + i];
    qsort(ord, cnt, sizeof *ord, span_cmp);
    const ep_st_tensor *prev = NULL;
    for (size_t i = 0; i < cnt && rc == EP_OK; i++) {
      if (ord[i]->nbytes == 0) continue;
      if (prev && (const uint8_t *)ord[i]->data < (const uint8_t *)prev->data + prev->nbytes)
        rc = ep_errf(err, errsz, EP_ECORRUPT, "%s: tensors '%s' and '%s' overlap", f->base,
                     prev->name, ord[i]->name);
      prev = ord[i];
    }
    free(ord);
  }
  return rc;
}

static int st_finish(ep_st *st, char *err, size_t errsz) {
  if (st->nt) qsort(st->t, st->nt, sizeof *st->t, name_cmp);
  for (size_t i = 1; i < st->nt; i++)
    if (strcmp(st->t[i - 1].name, st->t[i].name) == 0)
      return ep_errf(err, errsz, EP_ECORRUPT, "tensor '%s' appears in both %s and %s",
                     st->t[i].name, st->t[i - 1].file, st->t[i].file);
  return EP_OK;
}

int ep_st_open_file(const char *path, ep_st **out, char *err, size_t errsz) {
  *out = NULL;
  ep_st *st = calloc(1, sizeof *st);
  if (!st) return EP_ENOMEM;
  int rc = st_add_file(st, path, err, errsz);
  if (rc == EP_OK) rc = st_finish(st, err, errsz);
  if (rc != EP_OK) {
    ep_st_free(st);
    return rc;
  }
  *out = st;
  return EP_OK;
}

static int st_open_index(ep_st *st, const char *dir, const char *ipath, char *err, size_t errsz) {
  json_error_t je;
  json_t *root = json_load_file(ipath, 0, &je);
  if (!root)
    return ep_errf(err, errsz, EP_ECORRUPT, "model.safetensors.index.json: %s (line %d)", je.text,
                   je.line);
  json_t *wm = json_object_get(root, "weight_map");
  int rc = EP_OK;
  if (!json_is_object(wm)) {
    rc = ep_errf(err, errsz, EP_ECORRUPT, "model.safetensors.index.json: no weight_map object");
    goto done;
  }
  /* open each distinct shard once */
  const char *key;
  json_t *v;
  json_object_foreach(wm, key, v) {
    const char *fn = json_string_value(v);
    if (!fn || !*fn || strchr(fn, '/') || strcmp(fn, "..") == 0) {
      rc = ep_errf(err, errsz, EP_ECORRUPT, "model.safetensors.index.json: bad file for '%s'", key);
      goto done;
    }
    int seen = 0;
    for (size_t i = 0; i < st->nfiles && !seen; i++) seen = strcmp(st->files[i].base, fn) == 0;
    if (seen) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, fn);
    if ((rc = st_add_file(st, path, err, errsz)) != EP_OK) goto done;
  }
  if ((rc = st_finish(st, err, errsz)) != EP_OK) goto done;
  json_object_foreach(wm, key, v) {
    const ep_st_tensor *t = ep_st_find(st, key);
    if (!t || strcmp(t->file, json_string_value(v)) != 0) {
      rc = ep_errf(err, errsz, EP_ECORRUPT, "index names tensor '%s' in %s but it is not there", key,
                   json_string_value(v));
      goto done;
    }
  }
done:
  json_decref(root);
  return rc;
}

int ep_st_open_dir(const char *dir, ep_st **out, char *err, size_t errsz) {
  *out = NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (access(path, F_OK) == 0) return ep_st_open_file(path, out, err, errsz);
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
  if (access(path, F_OK) != 0)
    return ep_errf(err, errsz, EP_ENOTFOUND,
                   "%s: no model.safetensors or model.safetensors.index.json", dir);
  ep_st *st = calloc(1, sizeof *st);
  if (!st) return EP_ENOMEM;
  int rc = st_open_index(st, dir, path, err, errsz);
  if (rc != EP_OK) {
    ep_st_free(st);
    return rc;
  }
  *out = st;
  return EP_OK;
}

const ep_st_tensor *ep_st_find(const ep_st *st, const char *name) {
  size_t lo = 0, hi = st->nt;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(st->t[mid].name, name);
    if (c == 0) return &st->t[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

size_t ep_st_count(const ep_st *st) { return st->nt; }
const ep_st_tensor *ep_st_at(const ep_st *st, size_t i) { return i < st->nt ? &st->t[i] : NULL; }
