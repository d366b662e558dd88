/* Tiny path router: patterns are '/'-separated literals, "{name}" for one
 * segment, and a trailing "{*name}" for the rest of the path (may be empty).
 * A path that matches some pattern but not the method -> 405 with Allow. */
#ifndef EP_HTTP_ROUTER_H
#define EP_HTTP_ROUTER_H

#include "http/http.h"

#define EP_ROUTE_MAX_PARAMS 8

typedef struct {
  const char *names[EP_ROUTE_MAX_PARAMS];  /* into the route's pattern, NOT NUL-terminated */
  size_t name_lens[EP_ROUTE_MAX_PARAMS];   /* bytes of names[i] */
  const char *values[EP_ROUTE_MAX_PARAMS]; /* NUL-terminated, in the request arena */
  int n;
} ep_route_params;

typedef void (*ep_route_fn)(ep_http_req *req, const ep_route_params *p, void *ctx);

typedef struct {
  const char *method; /* "GET", ...; "*" = any */
  const char *pattern;
  ep_route_fn fn;
} ep_route;

/* Looks up a route. Returns 0 on a match (fills *p and *fn), 404 when no
 * pattern matches the path, 405 when only the method differs (allow[] gets a
 * comma list of methods, NUL-terminated). */
int ep_route_match(const ep_route *routes, size_t n, ep_http_req *req, ep_route_params *p,
                   ep_route_fn *fn, char *allow, size_t allowsz);
const char *ep_route_param(const ep_route_params *p, const char *name);

/* Matches and calls the route, or answers 404/405 JSON errors itself. */
void ep_route_dispatch(const ep_route *routes, size_t n, ep_http_req *req, void *ctx);

#endif
