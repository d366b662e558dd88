/* libendpoint: admin calls (users, orgs) and access tokens over
 * /v2/admin/... and /v2/tokens; answers are handed back as JSON text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"

static int post_json(ep_client *c, const char *path, json_t *body, char **out_json) {
  char *text = epc_json_text(body);
  json_decref(body);
  if (!text) return epc_set_error(c, EP_CLIENT_ENOMEM, 0, "out of memory");
  int err = ep_client_request(c, "POST", path, text, out_json);
  free(text);
  return err;
}

int ep_admin_user_add(ep_client *c, const char *name, const char *fullname, const char *email,
                      char **out_json) {
  if (!c) return EP_CLIENT_EINVAL;
  if (!name || !*name) return epc_set_error(c, EP_CLIENT_EINVAL, 0, "a user name is required");
  json_t *b = json_object();
  json_object_set_new(b, "name", json_string(name));
  if (fullname) json_object_set_new(b, "fullname", json_string(fullname));
  if (email) json_object_set_new(b, "email", json_string(email));
  return post_json(c, "/v2/admin/users", b, out_json);
}

int ep_admin_org_add(ep_client *c, const char *name, char **out_json) {
  if (!c) return EP_CLIENT_EINVAL;
  if (!name || !*name) return epc_set_error(c, EP_CLIENT_EINVAL, 0, "an org name is required");
  json_t *b = json_object();
  json_object_set_new(b, "name", json_string(name));
  return post_json(c, "/v2/admin/orgs", b, out_json);
}

int ep_admin_org_add_member(ep_client *c, const char *org, const char *user, const char *role,
                            char **out_json) {
  if (!c) return EP_CLIENT_EINVAL;
  if (!org || !*org || !user || !*user)
    return epc_set_error(c, EP_CLIENT_EINVAL, 0, "an org and a user are required");
  epc_buf path = {0};
  int err = epc_buf_puts(&path, "/v2/admin/orgs/");
  err = err ? err : epc_url_segment(&path, org);
  err = err ? err : epc_buf_puts(&path, "/members");
  if (err) {
    epc_buf_free(&path);
    return epc_set_error(c, err, 0, "out of memory");
  }
  json_t *b = json_object();
  json_object_set_new(b, "user", json_string(user));
  if (role) json_object_set_new(b, "role", json_string(role));
  err = post_json(c, path.data, b, out_json);
  epc_buf_free(&path);
  return err;
}

int ep_token_create(ep_client *c, const char *display_name, const char *role,
                    const char *expires_at, long expires_in_s, char **out_json) {
  if (!c) return EP_CLIENT_EINVAL;
  json_t *b = json_object();
  json_object_set_new(b, "displayName", json_string(display_name ? display_name : "token"));
  json_object_set_new(b, "role", json_string(role ? role : "read"));
  if (expires_at) json_object_set_new(b, "expiresAt", json_string(expires_at));
  else if (expires_in_s > 0) json_object_set_new(b, "expiresIn", json_integer(expires_in_s));
  return post_json(c, "/v2/tokens", b, out_json);
}

int ep_token_list(ep_client *c, char **out_json) {
  if (!c) return EP_CLIENT_EINVAL;
  return ep_client_request(c, "GET", "/v2/tokens", NULL, out_json);
}

int ep_token_revoke(ep_client *c, const char *id) {
  if (!c) return EP_CLIENT_EINVAL;
  if (!id || !*id) return epc_set_error(c, EP_CLIENT_EINVAL, 0, "a token id is required");
  epc_buf path = {0};
  int err = epc_buf_puts(&path, "/v2/tokens/");
  err = err ? err : epc_url_segment(&path, id);
  if (!err) err = ep_client_request(c, "DELETE", path.data, NULL, NULL);
  else epc_set_error(c, err, 0, "out of memory");
  epc_buf_free(&path);
  return err;
}
