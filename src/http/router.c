/* Path router over '/'-separated patterns with {param} and trailing {*rest};
 * see router.h. Linear scan: route tables are small (tens of entries). */
#include "http/router.h"

#include <stdio.h>
#include <string.h>

/* Matches path against pattern; fills params (values in the request arena). */
static int match(const char *pat, const char *path, ep_http_req *req, ep_route_params *p) {
  p->n = 0;
  const char *a = pat, *b = path;
  while (*a) {
    if (*a != '/' || *b != '/') return 0;
    a++;
    b++;
    const char *ae = strchr(a, '/');
    size_t alen = ae ? (size_t)(ae - a) : strlen(a);
    const char *be = strchr(b, '/');
    size_t blen = be ? (size_t)(be - b) : strlen(b);
    if (alen >= 3 && a[0] == '{' && a[1] == '*') {
      if (p->n < EP_ROUTE_MAX_PARAMS) {
        p->names[p->n] = a + 2;
        p->name_lens[p->n] = alen - 3;
        p->values[p->n++] = ep_arena_strdup(&req->arena, b);
      }
      return 1;
    }
    if (alen >= 2 && a[0] == '{') {
      if (blen == 0 || p->n >= EP_ROUTE_MAX_PARAMS) return 0;
      p->names[p->n] = a + 1;
      p->name_lens[p->n] = alen - 2;
      p->values[p->n++] = ep_arena_strndup(&req->arena, b, blen);
    } else if (alen != blen || strncmp(a, b, alen) != 0) {
      return 0;
    }
    a += alen;
    b += blen;
  }
  /* "/x/{*rest}" also matches "/x" (rest = "") */
  return *b == '\0';
}

static int match_with_rest(const char *pat, const char *path, ep_http_req *req, ep_route_params *p) {
  if (match(pat, path, req, p)) return 1;
  const char *star = strstr(pat, "/{*");
  if (star && star[strlen(star) - 1] == '}' && strchr(star + 1, '/') == NULL) {
    size_t plen = (size_t)(star - pat);
    char tmp[256];
    if (plen >= sizeof tmp) return 0;
    memcpy(tmp, pat, plen);
    tmp[plen] = '\0';
    if (match(plen ? tmp : "/", path, req, p)) {
      for (int i = 0; plen && i < p->n; i++) /* names must outlive tmp: same bytes in pat */
        p->names[i] = pat + (p->names[i] - tmp);
      if (p->n < EP_ROUTE_MAX_PARAMS) {
        p->names[p->n] = star + 3;
        p->name_lens[p->n] = strlen(star) - 4;
        p->values[p->n++] = "";
      }
      return 1;
    }
  }
  return 0;
}

/* 1 when the pattern's first segment cannot match the path's first segment
 * (both literal and different): skips the full match for most routes. */
static int first_segment_differs(const char *pat, const char *seg, size_t seglen) {
  if (pat[0] != '/' || pat[1] == '{') return 0;
  const char *a = pat + 1;
  if (seglen && a[0] != seg[0]) return 1; /* most routes: no call */
  /* equal only when the pattern has seg's bytes and its segment ends there */
  return strncmp(a, seg, seglen) != 0 || (a[seglen] != '/' && a[seglen] != '\0');
}

int ep_route_match(const ep_route *routes, size_t n, ep_http_req *req, ep_route_params *p,
                   ep_route_fn *fn, char *allow, size_t allowsz) {
  int path_matched = 0;
  if (allowsz) allow[0] = '\0';
  const char *seg = req->path[0] == '/' ? req->path + 1 : req->path;
  size_t seglen = strcspn(seg, "/");
  for (size_t i = 0; i < n; i++) {
    ep_route_params tmp;
    if (first_segment_differs(routes[i].pattern, seg, seglen)) continue;
    if (!match_with_rest(routes[i].pattern, req->path, req, &tmp)) continue;
    if (strcmp(routes[i].method, "*") == 0 || strcmp(routes[i].method, req->method) == 0 ||
        (strcmp(req->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
      *p = tmp;
      *fn = routes[i].fn;
      return 0;
    }
    if (allowsz && !strstr(allow, routes[i].method)) {
      size_t used = strlen(allow);
      snprintf(allow + used, allowsz - used, "%s%s", used ? ", " : "", routes[i].method);
    }
    path_matched = 1;
  }
  return path_matched ? 405 : 404;
}

const char *ep_route_param(const ep_route_params *p, const char *name) {
  size_t len = strlen(name);
  for (int i = 0; i < p->n; i++)
    if (p->name_lens[i] == len && memcmp(p->names[i], name, len) == 0) return p->values[i];
  return NULL;
}

void ep_route_dispatch(const ep_route *routes, size_t n, ep_http_req *req, void *ctx) {
  ep_route_params p;
  ep_route_fn fn;
  char allow[128];
  int rc = ep_route_match(routes, n, req, &p, &fn, allow, sizeof allow);
  if (rc == 0) {
    fn(req, &p, ctx);
  } else if (rc == 405) {
    ep_http_add_header(req, "Allow", allow);
    ep_http_respond_error(req, 405, "method %s not allowed on %s", req->method, req->path);
  } else {
    ep_http_respond_error(req, 404, "no route for %s %s", req->method, req->path);
  }
}
