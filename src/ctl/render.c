/* Endpoint JSON rendering (API.md Part B §1.1 shape, Part A §2-3 rules):
 * every field present, ms+Z timestamps, url only in routable states, secret
 * values and registry credentials redacted. */
#include <stdio.h>
#include <string.h>

#include "base/time.h"
#include "ctl/spec.h"

const char *ep_spec_state_message(const char *state) {
  static const char *const map[][2] = {
      {"pending", "Endpoint waiting to be scheduled"},
      {"initializing", "Endpoint is initializing"},
      {"updating", "Endpoint waiting for the update"},
      {"updateFailed", "Endpoint failed to update"},
      {"running", "Endpoint is running"},
      {"paused", "Endpoint is paused"},
      {"failed", "Endpoint failed to deploy"},
      {"scaledToZero", "Endpoint is scaled to zero"},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(state, map[i][0])) return map[i][1];
  return "";
}

int ep_spec_state_has_url(const char *state) {
  return !strcmp(state, "running") || !strcmp(state, "updating") ||
         !strcmp(state, "scaledToZero") || !strcmp(state, "updateFailed");
}

static json_t *iso(int64_t ms) {
  char b[40];
  ep_time_iso(ms, b, sizeof b);
  return json_string(b);
}

static json_t *who(const char *name) { return json_pack("{s:s, s:s}", "id", name, "name", name); }

/* Replaces every value of an object with the redaction marker. */
static void redact_values(json_t *o) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) { json_object_set_new(o, k, json_string(EP_SECRET_REDACTED)); }
}

json_t *ep_spec_render(const ep_endpoint_row *row, json_t *spec_in, const char *origin) {
  json_t *spec = spec_in;
  if (!spec) spec = json_loads(row->spec ? row->spec : "{}", 0, NULL);
  if (!spec) spec = json_object();
  json_t *model = json_deep_copy(json_object_get(spec, "model"));
  if (!json_is_object(model)) {
    json_decref(model);
    model = json_object();
  }
  static const char *const model_keys[] = {"repository", "revision", "task", "framework"};
  for (size_t i = 0; i < 4; i++)
    if (!json_object_get(model, model_keys[i])) json_object_set_new(model, model_keys[i], json_null());
  if (!json_object_get(model, "image"))
    json_object_set_new(model, "image", json_pack("{s:{}}", "huggingface"));
  if (!json_object_get(model, "env")) json_object_set_new(model, "env", json_object());
  json_t *secrets = json_object_get(model, "secrets");
  if (json_is_object(secrets)) redact_values(secrets);
  json_t *img = json_object_get(model, "image");
  if (json_is_object(img) && json_object_size(img) == 1) {
    json_t *cred = json_object_get(json_object_iter_value(json_object_iter(img)), "credentials");
    if (json_is_object(cred)) redact_values(cred);
  }

  json_t *url = json_null();
  if (ep_spec_state_has_url(row->state)) {
    char b[512];
    snprintf(b, sizeof b, "%s/endpoints/%s/%s", origin, row->ns, row->name);
    url = json_string(b);
  }
  const char *msg = row->message && *row->message ? row->message
                                                  : ep_spec_state_message(row->state);
  json_t *status = json_pack(
      "{s:o, s:o, s:o, s:o, s:n, s:s, s:s, s:o, s:i, s:i}", "createdAt", iso(row->created_at),
      "createdBy", who(row->created_by), "updatedAt", iso(row->updated_at), "updatedBy",
      who(row->updated_by), "private", "state", row->state, "message", msg, "url", url,
      "readyReplica", row->ready_replica, "targetReplica", row->target_replica);
  if (row->error_message || !strcmp(row->state, "failed") || !strcmp(row->state, "updateFailed"))
    json_object_set_new(status, "errorMessage",
                        row->error_message ? json_string(row->error_message) : json_null());

  json_t *out = json_pack("{s:s, s:s, s:O, s:O, s:s, s:O, s:o, s:o}", "name", row->name, "type",
                          row->type, "accountId", json_object_get(spec, "accountId")
                                                      ? json_object_get(spec, "accountId")
                                                      : json_null(),
                          "provider", json_object_get(spec, "provider") ? json_object_get(spec, "provider")
                                                                        : json_null(),
                          "healthRoute", ep_spec_health_route(spec), "compute",
                          json_object_get(spec, "compute") ? json_object_get(spec, "compute")
                                                           : json_null(),
                          "model", model, "status", status);
  static const char *const extra[] = {"route", "cacheHttpResponses", "tags"};
  for (size_t i = 0; i < 3; i++) {
    json_t *v = json_object_get(spec, extra[i]);
    if (v) json_object_set(out, extra[i], v);
  }
  if (!spec_in) json_decref(spec);
  return out;
}
