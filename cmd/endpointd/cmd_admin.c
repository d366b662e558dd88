/* endpointd user/org/token/whoami: administration and access tokens over
 * the management API (libendpoint). Prints human text, or the server's
 * JSON with --json. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"

static void print_json_or(const char *json, int as_json, void (*human)(json_t *)) {
  json_t *j = json_loads(json ? json : "", JSON_DECODE_ANY, NULL);
  if (as_json || !j || !human) {
    printf("%s\n", json ? json : "");
  } else {
    human(j);
  }
  json_decref(j);
}

static const char *js(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : "-";
}

static void human_token(json_t *t) {
  printf("id:      %s\nname:    %s\nrole:    %s\ncreated: %s\nexpires: %s\n", js(t, "id"),
         js(t, "displayName"), js(t, "role"), js(t, "createdAt"),
         json_is_string(json_object_get(t, "expiresAt")) ? js(t, "expiresAt") : "never");
  if (json_is_string(json_object_get(t, "token")))
    printf("token:   %s\n(store it now: it is not shown again)\n", js(t, "token"));
}

static void human_user(json_t *j) {
  json_t *u = json_object_get(j, "user");
  printf("user %s created\n", js(u ? u : j, "name"));
  json_t *t = json_object_get(j, "token");
  if (t) human_token(t);
}

static void human_tokens(json_t *j) {
  json_t *items = json_object_get(j, "items");
  size_t i;
  json_t *t;
  printf("%-24s %-20s %-6s %-25s %s\n", "ID", "NAME", "ROLE", "CREATED", "EXPIRES");
  json_array_foreach(items, i, t) {
    printf("%-24s %-20s %-6s %-25s %s\n", js(t, "id"), js(t, "displayName"), js(t, "role"),
           js(t, "createdAt"), json_is_string(json_object_get(t, "expiresAt")) ? js(t, "expiresAt") : "never");
  }
}

/* "90", "90s", "15m", "2h", "7d" -> seconds; -1 if not a duration. */
static long parse_duration(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || v <= 0) return -1;
  long mul = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600
             : !strcmp(end, "d") ? 86400 : !strcmp(end, "w") ? 604800 : -1;
  return mul < 0 ? -1 : v * mul;
}

static int usage_admin(void) {
  fprintf(stderr,
          "usage:\n"
          "  endpointd user add NAME [--fullname F] [--email E]\n"
          "  endpointd org add NAME\n"
          "  endpointd org add-member ORG USER [--role member|admin]\n"
          "  endpointd token create [--name N] [--role read|write] [--expires 30d|ISO-8601]\n"
          "  endpointd token list\n"
          "  endpointd token revoke ID\n"
          "  endpointd whoami\n"
          "common: --server URL (or ENDPOINTD_URL), --token T (or ENDPOINTD_TOKEN), --json\n");
  return 2;
}

int cmd_admin(int argc, char **argv) {
  const char *group = argv[0];
  cli_args a;
  cli_opts o = {0};
  o.url_is_server = 1;
  cli_init(&a, argc, argv);
  const char *pos[4] = {0};
  int np = 0;
  const char *fullname = NULL, *email = NULL, *role = NULL, *name = NULL, *expires = NULL;
  while (cli_next(&a)) {
    if (cli_common(&a, &o) || cli_val(&a, "--fullname", NULL, &fullname) ||
        cli_val(&a, "--email", NULL, &email) || cli_val(&a, "--role", NULL, &role) ||
        cli_val(&a, "--name", NULL, &name) || cli_val(&a, "--expires", NULL, &expires))
      continue;
    if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) return usage_admin(), 0;
    if (cli_is_positional(&a) && np < 4) pos[np++] = a.arg;
    else return cli_unknown(&a);
  }
  if (a.bad) return 2;
  const char *verb = np ? pos[0] : "";
  int is_whoami = !strcmp(group, "whoami");
  if (!is_whoami && !np) return usage_admin();
  if (role && !strcmp(group, "token") && strcmp(role, "read") && strcmp(role, "write")) {
    fprintf(stderr, "endpointd token: --role must be read or write\n");
    return 2;
  }
  long expires_in = 0;
  const char *expires_at = NULL;
  if (expires) {
    expires_in = parse_duration(expires);
    if (expires_in < 0) {
      if (!strchr(expires, 'T') || strlen(expires) < 16) {
        fprintf(stderr, "endpointd token: --expires takes a duration (90s, 15m, 2h, 30d) or an "
                        "ISO-8601 time (2027-01-01T00:00:00Z), got '%s'\n", expires);
        return 2;
      }
      expires_at = expires;
      expires_in = 0;
    }
  }
  ep_client *c;
  int rc = cli_client(&o, &c);
  if (rc) return rc;
  char *out = NULL;
  int err = 0;
  rc = 0;
  if (is_whoami) {
    ep_whoami_info *w = NULL;
    err = ep_whoami(c, &w);
    if (err) rc = cli_fail(c, err, "whoami");
    else if (o.json) printf("%s\n", w->raw_json);
    else {
      printf("%s (%s)\n", w->name, w->type);
      if (w->n_orgs) {
        printf("orgs:");
        for (size_t i = 0; i < w->n_orgs; i++) printf(" %s", w->orgs[i]);
        printf("\n");
      }
      if (w->token_role)
        printf("token: %s (role %s)\n", w->token_name ? w->token_name : "-", w->token_role);
    }
    ep_whoami_free(w);
  } else if (!strcmp(group, "user") && !strcmp(verb, "add") && np == 2) {
    if ((err = ep_admin_user_add(c, pos[1], fullname, email, &out))) rc = cli_fail(c, err, "user add");
    else print_json_or(out, o.json, human_user);
  } else if (!strcmp(group, "org") && !strcmp(verb, "add") && np == 2) {
    if ((err = ep_admin_org_add(c, pos[1], &out))) rc = cli_fail(c, err, "org add");
    else if (o.json) printf("%s\n", out);
    else printf("org %s created\n", pos[1]);
  } else if (!strcmp(group, "org") && !strcmp(verb, "add-member") && np == 3) {
    if ((err = ep_admin_org_add_member(c, pos[1], pos[2], role, &out)))
      rc = cli_fail(c, err, "org add-member");
    else if (o.json) printf("%s\n", out);
    else printf("%s added to %s%s%s\n", pos[2], pos[1], role ? " as " : "", role ? role : "");
  } else if (!strcmp(group, "token") && !strcmp(verb, "create") && np == 1) {
    if ((err = ep_token_create(c, name, role ? role : "read", expires_at, expires_in, &out)))
      rc = cli_fail(c, err, "token create");
    else print_json_or(out, o.json, human_token);
  } else if (!strcmp(group, "token") && !strcmp(verb, "list") && np == 1) {
    if ((err = ep_token_list(c, &out))) rc = cli_fail(c, err, "token list");
    else print_json_or(out, o.json, human_tokens);
  } else if (!strcmp(group, "token") && !strcmp(verb, "revoke") && np == 2) {
    if ((err = ep_token_revoke(c, pos[1]))) rc = cli_fail(c, err, "token revoke");
    else printf("token %s revoked\n", pos[1]);
  } else {
    rc = usage_admin();
  }
  free(out);
  ep_client_free(c);
  return rc;
}
