/* libendpoint: C client for endpointd (and any Hugging Face Inference
 * Endpoints compatible server). Management API (create/get/list/update/
 * delete/pause/resume/scale-to-zero/wait, whoami, tokens, users, orgs) and
 * the data plane (TGI text generation, OpenAI chat, TEI embeddings and
 * classification), blocking, streaming (SSE callbacks) and asynchronous
 * (many requests at once on one curl multi handle). Depends on libcurl only
 * at run time; no JSON library types appear in this header. */
#ifndef ENDPOINTD_CLIENT_H
#define ENDPOINTD_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------
 * Every function returning int returns 0 (EP_CLIENT_OK) or one of these
 * negative codes. After a call that reached the server, the HTTP status and
 * the server's message ({"error": ...} body or X-Error-Message header) are
 * kept on the client: ep_client_http_status(), ep_client_message(). */
#define EP_CLIENT_ERRNO_MAP(X)                                                          \
  X(NOMEM, -1, "out of memory")                                                         \
  X(INVAL, -2, "invalid argument")                                                      \
  X(CONN, -3, "could not reach the server")                                             \
  X(HTTP, -4, "the server answered with an error")                                      \
  X(BADREQ, -5, "bad request")                                                          \
  X(UNAUTH, -6, "unauthorized: missing or invalid token")                               \
  X(FORBIDDEN, -7, "forbidden: the token has no access")                                \
  X(NOTFOUND, -8, "not found")                                                          \
  X(CONFLICT, -9, "already exists")                                                     \
  X(UNAVAILABLE, -10, "service unavailable (try again later)")                          \
  X(PARSE, -11, "unexpected response from the server")                                  \
  X(TIMEOUT, -12, "timed out")                                                          \
  X(FAILED, -13, "endpoint failed to deploy")                                           \
  X(UPDATEFAILED, -14, "endpoint failed to update")                                     \
  X(NOTDEPLOYED, -15, "endpoint is not deployed yet (no URL); wait for it to be running") \
  X(NONAMESPACE, -16, "cannot determine the default namespace; pass one")               \
  X(STREAM, -17, "error event in the response stream")                                  \
  X(CANCELED, -18, "canceled by the callback")                                          \
  X(IO, -19, "input/output error")

typedef enum {
  EP_CLIENT_OK = 0,
#define EP_CLIENT__ENUM(name, val, msg) EP_CLIENT_E##name = (val),
  EP_CLIENT_ERRNO_MAP(EP_CLIENT__ENUM)
#undef EP_CLIENT__ENUM
} ep_client_err;

/* Static message for an error code; never NULL. */
const char *ep_client_strerror(int err);

/* ---- the client --------------------------------------------------------------
 * An ep_client holds the origin URL, the token, timeouts and the last error.
 * Created with ep_client_init(), freed with ep_client_free(). Not thread-safe:
 * use one client per thread. Strings in params are copied. */
typedef struct ep_client ep_client;

typedef struct {
  const char *url;        /* origin, e.g. "http://127.0.0.1:8080"; NULL = env ENDPOINTD_URL,
                             then HF_ENDPOINT, then http://127.0.0.1:8080 */
  const char *token;      /* NULL = env ENDPOINTD_TOKEN, then HF_TOKEN, then the first line of
                             $ENDPOINTD_HOME/admin.token or ~/.config/endpointd/token;
                             "" = send no token */
  long timeout_ms;        /* whole-request timeout; 0 = none (default 0) */
  long connect_timeout_ms; /* default 10000 */
  const char *user_agent; /* NULL = "libendpoint/<version>" */
} ep_client_params;

ep_client_params ep_client_default_params(void);
int ep_client_init(ep_client **out, const ep_client_params *params); /* params may be NULL */
void ep_client_free(ep_client *c);

const char *ep_client_url(const ep_client *c);   /* origin without trailing '/' (borrowed) */
const char *ep_client_token(const ep_client *c); /* NULL when none (borrowed) */
int ep_client_http_status(const ep_client *c);   /* status of the last response; 0 if none */
const char *ep_client_message(const ep_client *c); /* server/transport message of the last error; "" if none */

/* Generic request on the origin (escape hatch used by the admin calls).
 * path starts with '/'; body is JSON text or NULL. On success *out_body (if
 * out_body != NULL) is a malloc'd NUL-terminated body the caller frees. */
int ep_client_request(ep_client *c, const char *method, const char *path, const char *body,
                      char **out_body);

/* ---- endpoints (management plane) ---------------------------------------------
 * An ep_endpoint is allocated by the library and freed with ep_endpoint_free();
 * all its strings are owned by it and stay valid until the next fetch on it
 * (ep_endpoint_fetch / ep_endpoint_wait replace them in place) or the free.
 * Absent JSON values are NULL. `raw_json` is the server's object verbatim. */
typedef struct {
  char *name;
  char *ns;           /* namespace the endpoint was read from */
  char *type;         /* public | protected | authenticated | private */
  char *repository;
  char *framework;
  char *revision;
  char *task;
  char *status;       /* pending | initializing | updating | updateFailed | running | paused |
                         failed | scaledToZero */
  char *url;          /* data-plane base URL; NULL while not deployed */
  char *health_route; /* top-level healthRoute, e.g. "/health" */
  char *created_at, *updated_at;
  char *message, *error_message;
  int ready_replica, target_replica;
  int min_replica, max_replica;
  char *raw_json;
} ep_endpoint;

void ep_endpoint_free(ep_endpoint *e);
void ep_endpoint_list_free(ep_endpoint **list, size_t n);

/* Key/value lists (env, secrets) are NULL-terminated arrays of "KEY=VALUE". */
typedef struct {
  const char *name;            /* required */
  const char *repository;      /* required */
  const char *ns;              /* namespace; NULL = the caller's user name (whoami) */
  const char *framework;       /* default "pytorch" */
  const char *task;            /* NULL = not sent */
  const char *accelerator;     /* default "cpu" */
  const char *vendor;          /* default "local" */
  const char *region;          /* default "local" */
  const char *type;            /* default "protected" */
  const char *instance_size;   /* default "x1" */
  const char *instance_type;   /* default "cpu" */
  const char *revision;        /* NULL = sent as null */
  const char *account_id;      /* NULL = sent as null */
  int min_replica;             /* default 0 */
  int max_replica;             /* default 1 */
  int scale_to_zero_timeout;   /* minutes; -1 (default) = sent as null */
  const char *custom_image_url;          /* non-NULL: image {"custom": {...}} */
  const char *custom_image_health_route; /* default "/health" */
  int custom_image_port;                 /* 0 = not sent */
  const char *const *custom_image_env;
  const char *const *env;      /* model.env (sent when non-empty) */
  const char *const *secrets;  /* model.secrets (sent when non-empty) */
} ep_endpoint_create_params;

/* Sparse update: NULL strings and -1 ints are left unchanged (not sent). */
typedef struct {
  const char *accelerator, *instance_size, *instance_type;
  int min_replica, max_replica, scale_to_zero_timeout;
  const char *repository, *framework, *revision, *task;
  const char *custom_image_url, *custom_image_health_route;
  int custom_image_port;
  const char *const *custom_image_env;
  const char *const *env, *const *secrets;
} ep_endpoint_update_params;

ep_endpoint_create_params ep_endpoint_create_default_params(void);
ep_endpoint_update_params ep_endpoint_update_default_params(void);

/* Each call with an `out` parameter stores a new ep_endpoint the caller frees
 * (out may be NULL to discard it). ns == NULL resolves the caller's user name
 * through whoami (cached on the client). */
int ep_endpoint_create(ep_client *c, const ep_endpoint_create_params *p, ep_endpoint **out);
int ep_endpoint_get(ep_client *c, const char *ns, const char *name, ep_endpoint **out);
int ep_endpoint_update(ep_client *c, const char *ns, const char *name,
                       const ep_endpoint_update_params *p, ep_endpoint **out);
int ep_endpoint_delete(ep_client *c, const char *ns, const char *name);
int ep_endpoint_pause(ep_client *c, const char *ns, const char *name, ep_endpoint **out);
/* running_ok: a 400 "already running" answer is turned into a GET (huggingface_hub). */
int ep_endpoint_resume(ep_client *c, const char *ns, const char *name, int running_ok,
                       ep_endpoint **out);
int ep_endpoint_scale_to_zero(ep_client *c, const char *ns, const char *name, ep_endpoint **out);

/* List a namespace. ns "*" = the user's own endpoints then each org's from
 * whoami, skipping orgs that answer with an error (as huggingface_hub does).
 * *out is a malloc'd array of *n endpoints; free with ep_endpoint_list_free. */
int ep_endpoint_list(ep_client *c, const char *ns, ep_endpoint ***out, size_t *n);

/* Re-read e from the server, replacing its fields in place. */
int ep_endpoint_fetch(ep_client *c, ep_endpoint *e);

/* Wait until the endpoint is running and GET url+healthRoute answers 200.
 * timeout_s < 0 = forever; every_s > 0 is the poll period (huggingface_hub's
 * refresh_every, default 5). Returns EP_CLIENT_EFAILED / EP_CLIENT_EUPDATEFAILED
 * when the server reports failed/updateFailed, EP_CLIENT_ETIMEOUT when the
 * deadline passes. e is refreshed in place. */
int ep_endpoint_wait(ep_client *c, ep_endpoint *e, double timeout_s, double every_s);

/* Endpoint logs (GET .../logs): *out_text is malloc'd text the caller frees. */
int ep_endpoint_logs(ep_client *c, const char *ns, const char *name, char **out_text);
/* Token callback for streams: text of one token (or chat delta;
 * log text for ep_endpoint_logs_follow), special =
 * token.special. Return non-zero to stop the stream (-> EP_CLIENT_ECANCELED). */
typedef int (*ep_token_cb)(void *ud, const char *text, int special);

/* Follows the endpoint's logs (GET .../logs?follow=1&tail=N): cb gets the
 * last `tail` lines (0 = all), then text as it is appended (chunks, not
 * necessarily whole lines; `special` is 0). Blocks until the server ends the
 * stream (endpoint deleted, daemon stopping: returns 0), an error, or cb
 * returns non-zero (EP_CLIENT_ECANCELED). No whole-request timeout. */
int ep_endpoint_logs_follow(ep_client *c, const char *ns, const char *name, int tail,
                            ep_token_cb cb, void *ud);

/* ---- whoami -------------------------------------------------------------------- */
typedef struct {
  char *name;
  char *type;        /* "user" | "org" */
  char *token_name;  /* auth.accessToken.displayName */
  char *token_role;  /* auth.accessToken.role */
  char **orgs;       /* n_orgs org names */
  size_t n_orgs;
  char *raw_json;
} ep_whoami_info;

int ep_whoami(ep_client *c, ep_whoami_info **out); /* free with ep_whoami_free */
void ep_whoami_free(ep_whoami_info *w);

/* ---- admin: users, orgs, tokens -------------------------------------------------
 * out_json (may be NULL) receives the server's JSON answer, malloc'd. */
int ep_admin_user_add(ep_client *c, const char *name, const char *fullname, const char *email,
                      char **out_json);
int ep_admin_org_add(ep_client *c, const char *name, char **out_json);
int ep_admin_org_add_member(ep_client *c, const char *org, const char *user, const char *role,
                            char **out_json);
/* expires_at: ISO-8601 string or NULL; expires_in_s > 0: seconds; both unset = no expiry. */
int ep_token_create(ep_client *c, const char *display_name, const char *role,
                    const char *expires_at, long expires_in_s, char **out_json);
int ep_token_list(ep_client *c, char **out_json);
int ep_token_revoke(ep_client *c, const char *id);

/* ---- data plane -------------------------------------------------------------------
 * `url` is an endpoint's base URL (ep_endpoint.url, or a runtime's
 * http://host:port). url == NULL returns EP_CLIENT_ENOTDEPLOYED. The client's
 * token is sent as Bearer. Outputs are malloc'd and owned by the caller. */
typedef struct {
  int max_new_tokens;       /* -1 = server default */
  double temperature;       /* < 0 = not sent */
  int top_k;                /* <= 0 = not sent */
  double top_p;             /* < 0 = not sent */
  double repetition_penalty; /* < 0 = not sent */
  long long seed;           /* < 0 = not sent */
  int do_sample;            /* -1 = not sent, 0/1 */
  int return_full_text;     /* -1 = not sent, 0/1 */
  const char *const *stop;  /* NULL-terminated stop sequences, or NULL */
} ep_gen_params;

ep_gen_params ep_gen_default_params(void);

/* TGI text generation on POST {url}: *out_text = generated_text. */
int ep_text_generation(ep_client *c, const char *url, const char *prompt, const ep_gen_params *p,
                       char **out_text);
/* Streaming: SSE events; cb per token; *out_text (may be NULL) = final generated_text. */
int ep_text_generation_stream(ep_client *c, const char *url, const char *prompt,
                              const ep_gen_params *p, ep_token_cb cb, void *ud, char **out_text);

typedef struct {
  const char *role;    /* "system" | "user" | "assistant" */
  const char *content;
} ep_chat_message;

/* OpenAI chat on POST {url}/v1/chat/completions (URL rule of huggingface_hub).
 * Uses max_new_tokens (as max_tokens), temperature, top_p, seed, stop of p. */
int ep_chat_completion(ep_client *c, const char *url, const ep_chat_message *msgs, size_t n,
                       const ep_gen_params *p, char **out_text);
int ep_chat_completion_stream(ep_client *c, const char *url, const ep_chat_message *msgs,
                              size_t n, const ep_gen_params *p, ep_token_cb cb, void *ud,
                              char **out_text);

/* Feature extraction, POST {url} {"inputs": [..]}: *out = rows*dim floats
 * (row-major, malloc'd). */
int ep_feature_extraction(ep_client *c, const char *url, const char *const *inputs, size_t n,
                          float **out, size_t *rows, size_t *dim);

typedef struct {
  char *label;
  double score;
} ep_label_score;

/* Text classification, POST {url} {"inputs": text}: *out = n labels sorted as
 * the server sent them; free with ep_label_scores_free. */
int ep_text_classification(ep_client *c, const char *url, const char *text, ep_label_score **out,
                           size_t *n);
void ep_label_scores_free(ep_label_score *l, size_t n);

/* ---- asynchronous requests ------------------------------------------------------------
 * An ep_multi runs many data-plane requests concurrently on one thread
 * (curl multi). Queue requests with ep_multi_*; each gets its own done
 * callback, called once from ep_multi_run/ep_multi_poll with the result:
 * err, the HTTP status, and the result text (generated text; chat content;
 * or the raw JSON body for ep_multi_post) borrowed for the callback only.
 * The ep_client must outlive the ep_multi; the multi copies all inputs. */
typedef struct ep_multi ep_multi;
typedef void (*ep_done_cb)(void *ud, int err, int http_status, const char *result);

int ep_multi_init(ep_client *c, ep_multi **out);
void ep_multi_free(ep_multi *m); /* aborts requests still running (no callbacks) */

int ep_multi_text_generation(ep_multi *m, const char *url, const char *prompt,
                             const ep_gen_params *p, ep_done_cb done, void *ud);
/* Streaming variant: cb per token, then done with the full text. */
int ep_multi_text_generation_stream(ep_multi *m, const char *url, const char *prompt,
                                    const ep_gen_params *p, ep_token_cb cb, ep_done_cb done,
                                    void *ud);
int ep_multi_chat_completion(ep_multi *m, const char *url, const ep_chat_message *msgs, size_t n,
                             const ep_gen_params *p, ep_done_cb done, void *ud);
/* Any JSON POST; result = response body. */
int ep_multi_post(ep_multi *m, const char *url, const char *json_body, ep_done_cb done, void *ud);

/* Drive transfers for at most timeout_ms; *running = requests not finished. */
int ep_multi_poll(ep_multi *m, int timeout_ms, int *running);
/* Run until every queued request finished (asyncio.gather). */
int ep_multi_run(ep_multi *m);

#ifdef __cplusplus
}
#endif
#endif
