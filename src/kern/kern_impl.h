/* Private to src/kern: the per-ISA dot-product and row-conversion entry
 * points that kern.c dispatches to. */
#ifndef EP_KERN_IMPL_H
#define EP_KERN_IMPL_H

#include "kern/kern.h"

typedef float (*ep__dot_fn)(const float *x, const void *w, int n);
typedef void (*ep__cvt_fn)(float *dst, const void *src, int n);

typedef struct {
  const char *name;
  ep__dot_fn dot[3]; /* by ep_kern_wtype */
  ep__cvt_fn cvt[3]; /* to f32; [EP_KW_F32] unused */
} ep__isa;

extern const ep__isa ep__isa_scalar;
int ep__avx2_available(void);
extern const ep__isa ep__isa_avx2;

#endif
