/* safetensors reader: opens a Hugging Face repository folder (model.safetensors
 * or a sharded model.safetensors.index.json), mmaps each file read-only and
 * validates every header before any tensor is handed out (bounds, overlaps,
 * shape x dtype size == byte length, known dtypes). Non-goal: writing files.
 *
 * Ownership: ep_st_open_* return a caller-owned handle (ep_st_free). Tensor
 * descriptors and their data pointers are borrowed from the handle and stay
 * valid until ep_st_free. Data is little-endian and read-only (mmapped). */
#ifndef EP_FMT_SAFETENSORS_H
#define EP_FMT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  EP_ST_F32 = 0,
  EP_ST_F16,
  EP_ST_BF16,
  EP_ST_F64,
  EP_ST_I64,
  EP_ST_I32,
  EP_ST_I16,
  EP_ST_I8,
  EP_ST_U8,
  EP_ST_BOOL,
} ep_st_dtype;

#define EP_ST_MAX_DIMS 8

typedef struct {
  const char *name;            /* tensor name as in the header */
  const char *file;            /* file (base name) that holds it */
  ep_st_dtype dtype;
  int ndim;                    /* 0 for a scalar */
  int64_t shape[EP_ST_MAX_DIMS];
  int64_t numel;               /* product of shape (1 for a scalar) */
  const void *data;            /* mmapped bytes (may be unaligned for odd files) */
  size_t nbytes;
} ep_st_tensor;

typedef struct ep_st ep_st;

/* Opens dir/model.safetensors, else dir/model.safetensors.index.json and every
 * shard it names. On failure returns an ep_err (EP_ENOTFOUND, EP_EIO,
 * EP_ECORRUPT, EP_EPARSE, EP_ENOMEM) and writes a message naming the file
 * and tensor into err. */
int ep_st_open_dir(const char *dir, ep_st **out, char *err, size_t errsz);
/* Opens one .safetensors file. */
int ep_st_open_file(const char *path, ep_st **out, char *err, size_t errsz);
void ep_st_free(ep_st *st);

/* Lookup by exact name; NULL when absent. */
const ep_st_tensor *ep_st_find(const ep_st *st, const char *name);
size_t ep_st_count(const ep_st *st);
const ep_st_tensor *ep_st_at(const ep_st *st, size_t i); /* sorted by name */

/* Bytes per element (1..8); "F32" etc. names; parse returns -1 if unknown. */
size_t ep_st_dtype_size(ep_st_dtype dt);
const char *ep_st_dtype_name(ep_st_dtype dt);
int ep_st_dtype_parse(const char *s);

#endif
