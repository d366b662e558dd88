/* libFuzzer driver for the safetensors reader (src/fmt/safetensors.h): the
 * input is a whole .safetensors file (read through a memfd). Every tensor of
 * an accepted file is touched at its first and last byte, so a data range
 * outside the mapping is caught, and its size is checked against its shape. */
#include <string.h>

#include "fmt/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64], err[256];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  ep_st *st = NULL;
  if (ep_st_open_file(path, &st, err, sizeof err) == 0) {
    volatile uint8_t sink = 0;
    size_t n = ep_st_count(st);
    for (size_t i = 0; i < n; i++) {
      const ep_st_tensor *t = ep_st_at(st, i);
      if (!t || !t->name || t->ndim < 0 || t->ndim > EP_ST_MAX_DIMS) abort();
      if (ep_st_find(st, t->name) == NULL) abort();
      size_t es = ep_st_dtype_size(t->dtype);
      if ((uint64_t)t->numel * es != t->nbytes) {
        fprintf(stderr, "fuzz_safetensors: %s numel %lld * %zu != nbytes %zu\n", t->name,
                (long long)t->numel, es, t->nbytes);
        abort();
      }
      if (t->nbytes) {
        const uint8_t *p = t->data;
        sink ^= p[0];
        sink ^= p[t->nbytes - 1];
      }
      (void)ep_st_dtype_name(t->dtype);
    }
    (void)sink;
    ep_st_free(st);
  }
  close(fd);
  return 0;
}
