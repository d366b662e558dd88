/* The dashboard's static files (GET / and /web/...) from the web directory,
 * or a small JSON description of the API at "/" when there is none. Paths
 * with ".." or hidden segments are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "ctl/ctl-impl.h"

static const char *mime(const char *path) {
  static const char *const map[][2] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"}};
  const char *dot = strrchr(path, '.');
  for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(dot, map[i][0])) return map[i][1];
  return "application/octet-stream";
}

/* Sends web_dir/rel; 0 on success, -1 when not found (nothing sent). */
static int send_file(ep_ctl *c, ep_http_req *r, const char *rel) {
  if (!c->web_dir || strstr(rel, "..") || strstr(rel, "/.") || rel[0] == '.') return -1;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", c->web_dir, rel);
  struct stat sb;
  if (stat(path, &sb) || !S_ISREG(sb.st_mode) || sb.st_size > 64 * 1024 * 1024) return -1;
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  ep_buf b = EP_BUF_INIT;
  char chunk[16384];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) ep_buf_append(&b, chunk, n);
  fclose(f);
  ep_http_add_header(r, "Cache-Control", "no-cache");
  ep_http_respond(r, 200, mime(path), b.data ? b.data : "", b.len);
  ep_buf_free(&b);
  return 0;
}

void ep__ctl_root(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  if (send_file(c, r, "index.html") == 0) return;
  ep_http_respond_json(
      r, 200,
      json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "name", "endpointd", "version",
                c->version, "api", "whoami", "/api/whoami-v2", "endpoints", "/v2/endpoint/{namespace}",
                "provider", "/v2/provider", "dataPlane", "/endpoints/{namespace}/{name}", "health",
                "/health", "metrics", "/metrics"));
}

void ep__ctl_web(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  const char *rel = ep_route_param(p, "path");
  if (!rel || !*rel) rel = "index.html";
  if (send_file(c, r, rel)) ep_http_respond_error(r, 404, "no such file: /web/%.200s", rel);
}
