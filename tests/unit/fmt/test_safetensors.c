/* safetensors reader: a valid file round-trips, and crafted corrupt files
 * (truncated, header length past EOF, bad JSON, offsets out of bounds,
 * overlaps, shape/bytes mismatch, bad dtype, sharded index naming a missing
 * tensor) give EP_ECORRUPT with a message naming file and tensor. */
#include <stdint.h>
#include <unistd.h>

#include "base/err.h"
#include "fmt/safetensors.h"
#include "test.h"

static char g_dir[64];

/* writes [u64 len][header][data] (len_override != 0 replaces the length) */
static void write_st(const char *name, const char *hdr, uint64_t len_override, size_t data_bytes) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  uint64_t n = len_override ? len_override : strlen(hdr);
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(n >> (8 * i));
  fwrite(le, 1, 8, f);
  fwrite(hdr, 1, strlen(hdr), f);
  for (size_t i = 0; i < data_bytes; i++) fputc((int)(i & 0xff), f);
  fclose(f);
}

static int open_named(const char *name, char *err, size_t errsz) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  ep_st *st = NULL;
  int rc = ep_st_open_file(path, &st, err, errsz);
  if (rc == EP_OK) ep_st_free(st);
  else fprintf(stderr, "  %s -> %s\n", name, err);
  return rc;
}

static void expect_corrupt(const char *name, const char *hdr, uint64_t len, size_t data, const char *needle) {
  write_st(name, hdr, len, data);
  char err[512] = "";
  CHECK_INT(open_named(name, err, sizeof err), EP_ECORRUPT);
  CHECK(strstr(err, name) != NULL);
  if (needle) CHECK(strstr(err, needle) != NULL);
}

static void test_valid(void) {
  const char *h = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[2],"
                  "\"data_offsets\":[16,20]},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                  "\"m\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[20,21]}}";
  write_st("ok.safetensors", h, 0, 21);
  char path[256], err[256];
  snprintf(path, sizeof path, "%s/ok.safetensors", g_dir);
  ep_st *st = NULL;
  CHECK_INT(ep_st_open_file(path, &st, err, sizeof err), EP_OK);
  if (!st) return;
  CHECK_INT(ep_st_count(st), 3);
  const ep_st_tensor *a = ep_st_find(st, "a");
  CHECK(a && a->dtype == EP_ST_F32 && a->ndim == 2 && a->shape[1] == 2 && a->nbytes == 16);
  CHECK(a && ((const uint8_t *)a->data)[1] == 1);
  const ep_st_tensor *b = ep_st_find(st, "b");
  CHECK(b && b->dtype == EP_ST_BF16 && ((const uint8_t *)b->data)[0] == 16);
  const ep_st_tensor *m = ep_st_find(st, "m");
  CHECK(m && m->ndim == 0 && m->numel == 1);
  CHECK(ep_st_find(st, "zz") == NULL);
  CHECK_STR(ep_st_at(st, 0)->name, "a");
  ep_st_free(st);
}

static void test_corrupt(void) {
  /* shorter than the 8-byte length */
  char path[256];
  snprintf(path, sizeof path, "%s/tiny.safetensors", g_dir);
  FILE *f = fopen(path, "wb");
  fwrite("abc", 1, 3, f);
  fclose(f);
  char err[512];
  CHECK_INT(open_named("tiny.safetensors", err, sizeof err), EP_ECORRUPT);
  const char *one = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  expect_corrupt("trunc_header.safetensors", "{\"w\":{\"dtype\":\"F32\"", 200, 0, "larger than the file");
  expect_corrupt("huge_len.safetensors", one, (uint64_t)1 << 62, 8, "limit");
  expect_corrupt("bad_json.safetensors", "{\"w\":{\"dtype\":\"F32\",,}}", 0, 8, "JSON");
  expect_corrupt("not_obj.safetensors", "[1,2,3]", 0, 0, "object");
  expect_corrupt("oob.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8,
                 "'w'");
  expect_corrupt("trunc_data.safetensors", one, 0, 5, "past end");
  expect_corrupt("mismatch.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0,
                 8, "needs 12");
  expect_corrupt("overlap.safetensors",
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 0, 12, "overlap");
  expect_corrupt("dtype.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8,
                 "unknown dtype");
  expect_corrupt("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8,
                 "shape");
  expect_corrupt("rev.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 0, 8,
                 "data_offsets");
  expect_corrupt("ovf.safetensors",
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 0,
                 8, "'w'");
  expect_corrupt("noarr.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 0, 8,
                 "'w'");
  expect_corrupt("dup.safetensors",
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 0, 8, NULL);
}

static void test_dir(void) {
  char err[512] = "";
  ep_st *st = NULL;
  CHECK_INT(ep_st_open_dir(g_dir, &st, err, sizeof err), EP_ENOTFOUND); /* neither file present */
  char path[256];
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", g_dir);
  FILE *f = fopen(path, "w");
  fputs("{\"weight_map\":{\"a\":\"ok.safetensors\",\"ghost\":\"ok.safetensors\"}}", f);
  fclose(f);
  CHECK_INT(ep_st_open_dir(g_dir, &st, err, sizeof err), EP_ECORRUPT);
  CHECK(strstr(err, "ghost") != NULL);
  f = fopen(path, "w");
  fputs("{\"weight_map\":{\"a\":\"../etc/passwd\"}}", f);
  fclose(f);
  CHECK_INT(ep_st_open_dir(g_dir, &st, err, sizeof err), EP_ECORRUPT);
  f = fopen(path, "w");
  fputs("{\"weight_map\":{\"a\":\"ok.safetensors\",\"b\":\"ok.safetensors\",\"m\":\"ok.safetensors\"}}", f);
  fclose(f);
  CHECK_INT(ep_st_open_dir(g_dir, &st, err, sizeof err), EP_OK);
  if (st) CHECK(ep_st_find(st, "b") != NULL);
  ep_st_free(st);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/ep-st-XXXXXX");
  if (!mkdtemp(g_dir)) return 1;
  RUN(test_valid);
  RUN(test_corrupt);
  RUN(test_dir);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return t_finish();
}
