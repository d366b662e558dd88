/* endpointd create|ls|get|wait|pause|resume|scale-to-zero|update|delete|logs:
 * the management commands, thin wrappers over libendpoint. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmds.h"

static int usage_mgmt(void) {
  fprintf(stderr,
          "usage:\n"
          "  endpointd create NAME [REPOSITORY] [--repository R] [--task T] [--framework F]\n"
          "           [--accelerator cpu] [--vendor local] [--region R] [--type public|protected|private]\n"
          "           [--instance-size x1] [--instance-type T] [--min-replica N] [--max-replica N]\n"
          "           [--scale-to-zero-timeout MIN] [--revision REV] [--custom-image URL\n"
          "           [--health-route /health] [--port P]] [--env K=V]... [--secret K=V]... [--wait]\n"
          "  endpointd ls [-n NAMESPACE|'*']\n"
          "  endpointd get NAME\n"
          "  endpointd wait NAME [--timeout SECONDS] [--every SECONDS]\n"
          "  endpointd pause|resume|scale-to-zero|delete NAME\n"
          "  endpointd update NAME [create options except --name/--vendor/--region/--type]\n"
          "  endpointd logs NAME [--follow]\n"
          "common: --server URL (or ENDPOINTD_URL), --token T (or ENDPOINTD_TOKEN), -n NAMESPACE, --json\n"
          "exit status: 0 ok, 1 error, 2 usage, 3 timeout\n");
  return 2;
}

static void print_endpoint(const ep_endpoint *e) {
  printf("name:       %s\n", e->name);
  printf("namespace:  %s\n", e->ns ? e->ns : "-");
  printf("state:      %s\n", e->status ? e->status : "-");
  printf("url:        %s\n", e->url ? e->url : "-");
  printf("repository: %s\n", e->repository ? e->repository : "-");
  printf("task:       %s\n", e->task ? e->task : "-");
  printf("type:       %s\n", e->type ? e->type : "-");
  printf("replicas:   %d/%d ready (min %d, max %d)\n", e->ready_replica, e->target_replica,
         e->min_replica, e->max_replica);
  printf("created:    %s\n", e->created_at ? e->created_at : "-");
  printf("updated:    %s\n", e->updated_at ? e->updated_at : "-");
  if (e->message) printf("message:    %s\n", e->message);
  if (e->error_message) printf("error:      %s\n", e->error_message);
}

static void show(const ep_endpoint *e, int json) {
  if (json) printf("%s\n", e->raw_json);
  else print_endpoint(e);
}

typedef struct {
  ep_endpoint_create_params cp;
  ep_endpoint_update_params up;
  cli_list env, secrets, img_env;
  int wait;
  double timeout, every;
  int follow;
} mgmt_args;

/* Options of create/update (stored in both param structs). 1 if consumed. */
static int spec_option(cli_args *a, mgmt_args *m) {
  ep_endpoint_create_params *c = &m->cp;
  ep_endpoint_update_params *u = &m->up;
  const char *v = NULL;
#define STR(opt, field)                   \
  if (cli_val(a, opt, NULL, &v)) {        \
    c->field = u->field = v;              \
    return 1;                             \
  }
  STR("--repository", repository);
  STR("--framework", framework);
  STR("--task", task);
  STR("--accelerator", accelerator);
  STR("--instance-size", instance_size);
  STR("--instance-type", instance_type);
  STR("--revision", revision);
  STR("--custom-image", custom_image_url);
  STR("--health-route", custom_image_health_route);
#undef STR
  if (cli_val(a, "--vendor", NULL, &c->vendor) || cli_val(a, "--region", NULL, &c->region) ||
      cli_val(a, "--type", NULL, &c->type) || cli_val(a, "--account-id", NULL, &c->account_id))
    return 1;
  int x;
  if (cli_int(a, "--min-replica", &x)) return c->min_replica = u->min_replica = x, 1;
  if (cli_int(a, "--max-replica", &x)) return c->max_replica = u->max_replica = x, 1;
  if (cli_int(a, "--scale-to-zero-timeout", &x))
    return c->scale_to_zero_timeout = u->scale_to_zero_timeout = x, 1;
  if (cli_int(a, "--port", &x)) return c->custom_image_port = u->custom_image_port = x, 1;
  if (cli_val(a, "--env", "-e", &v)) return v ? cli_list_add(&m->env, v) : 0, 1;
  if (cli_val(a, "--secret", NULL, &v)) return v ? cli_list_add(&m->secrets, v) : 0, 1;
  if (cli_val(a, "--image-env", NULL, &v)) return v ? cli_list_add(&m->img_env, v) : 0, 1;
  return 0;
}

static int print_chunk(void *ud, const char *text, int special) {
  (void)ud;
  (void)special;
  fputs(text, stdout);
  fflush(stdout);
  return 0;
}

/* --follow: one streamed request (logs?follow=1) until the endpoint is
 * deleted or the daemon stops; a daemon without follow support (501) is
 * polled every second instead. */
static int do_logs(ep_client *c, const cli_opts *o, const char *name, int follow) {
  if (follow) {
    int err = ep_endpoint_logs_follow(c, o->ns, name, 0, print_chunk, NULL);
    if (!err) return 0;
    if (ep_client_http_status(c) != 501) return cli_fail(c, err, "logs");
  }
  size_t printed = 0;
  for (;;) {
    char *text = NULL;
    int err = ep_endpoint_logs(c, o->ns, name, &text);
    if (err) return cli_fail(c, err, "logs");
    size_t n = strlen(text);
    /* Text grows at the end; after a rotation (shorter text) print it all again. */
    if (n < printed) printed = 0;
    fwrite(text + printed, 1, n - printed, stdout);
    fflush(stdout);
    printed = n;
    free(text);
    if (!follow) return 0;
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
  }
}

int cmd_client(int argc, char **argv) {
  const char *cmd = argv[0];
  cli_args a;
  cli_opts o = {0};
  o.url_is_server = 1;
  mgmt_args m;
  memset(&m, 0, sizeof m);
  m.cp = ep_endpoint_create_default_params();
  m.up = ep_endpoint_update_default_params();
  m.timeout = -1;
  m.every = 1;
  const char *pos[3] = {0};
  int np = 0;
  cli_init(&a, argc, argv);
  int is_create = !strcmp(cmd, "create"), is_update = !strcmp(cmd, "update");
  while (cli_next(&a)) {
    if (cli_common(&a, &o)) continue;
    if ((is_create || is_update) && spec_option(&a, &m)) continue;
    if (cli_num(&a, "--timeout", &m.timeout) || cli_num(&a, "--every", &m.every)) continue;
    if (cli_flag(&a, "--wait")) m.wait = 1;
    else if (cli_flag(&a, "--follow") || cli_flag(&a, "-f")) m.follow = 1;
    else if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) return usage_mgmt(), 0;
    else if (cli_is_positional(&a) && np < 3) pos[np++] = a.arg;
    else return cli_unknown(&a);
  }
  int rc = a.bad ? 2 : 0;
  int is_ls = !strcmp(cmd, "ls") || !strcmp(cmd, "list");
  if (!rc && !is_ls && np < 1) {
    fprintf(stderr, "endpointd %s: an endpoint NAME is required\n", cmd);
    rc = 2;
  }
  if (!rc && is_create && np == 2 && !m.cp.repository) m.cp.repository = pos[1];
  else if (!rc && np > 1) {
    a.arg = pos[1];
    rc = cli_unknown(&a);
  }
  if (!rc && is_create && !m.cp.repository) {
    fprintf(stderr, "endpointd create: a repository is required (--repository REPO)\n");
    rc = 2;
  }
  if (!rc && m.every <= 0) {
    fprintf(stderr, "endpointd %s: --every must be positive\n", cmd);
    rc = 2;
  }
  m.cp.env = m.up.env = m.env.v;
  m.cp.secrets = m.up.secrets = m.secrets.v;
  m.cp.custom_image_env = m.up.custom_image_env = m.img_env.v;
  ep_client *c = NULL;
  if (!rc) rc = cli_client(&o, &c);
  const char *name = pos[0];
  ep_endpoint *e = NULL;
  int err = 0;
  if (rc) {
    /* usage error already printed */
  } else if (is_create) {
    m.cp.name = name;
    m.cp.ns = o.ns;
    if ((err = ep_endpoint_create(c, &m.cp, &e))) rc = cli_fail(c, err, "create");
    else if (m.wait && (err = ep_endpoint_wait(c, e, m.timeout, m.every))) rc = cli_fail(c, err, "wait");
    else show(e, o.json);
  } else if (is_ls) {
    ep_endpoint **list = NULL;
    size_t n = 0;
    if ((err = ep_endpoint_list(c, o.ns ? o.ns : (np ? pos[0] : NULL), &list, &n))) {
      rc = cli_fail(c, err, "ls");
    } else if (o.json) {
      printf("{\"items\":[");
      for (size_t i = 0; i < n; i++) printf("%s%s", i ? "," : "", list[i]->raw_json);
      printf("]}\n");
    } else {
      printf("%-16s %-32s %-14s %-20s %s\n", "NAMESPACE", "NAME", "STATE", "TASK", "URL");
      for (size_t i = 0; i < n; i++)
        printf("%-16s %-32s %-14s %-20s %s\n", list[i]->ns ? list[i]->ns : "-", list[i]->name,
               list[i]->status ? list[i]->status : "-", list[i]->task ? list[i]->task : "-",
               list[i]->url ? list[i]->url : "-");
    }
    ep_endpoint_list_free(list, n);
  } else if (!strcmp(cmd, "get")) {
    if ((err = ep_endpoint_get(c, o.ns, name, &e))) rc = cli_fail(c, err, "get");
    else show(e, o.json);
  } else if (!strcmp(cmd, "wait")) {
    if ((err = ep_endpoint_get(c, o.ns, name, &e))) rc = cli_fail(c, err, "wait");
    else if ((err = ep_endpoint_wait(c, e, m.timeout, m.every))) rc = cli_fail(c, err, "wait");
    else if (o.json) show(e, 1);
    else printf("%s is running at %s\n", e->name, e->url);
  } else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "scale-to-zero")) {
    if (cmd[0] == 'p') err = ep_endpoint_pause(c, o.ns, name, &e);
    else if (cmd[0] == 'r') err = ep_endpoint_resume(c, o.ns, name, 1, &e);
    else err = ep_endpoint_scale_to_zero(c, o.ns, name, &e);
    if (err) rc = cli_fail(c, err, cmd);
    else if (o.json) show(e, 1);
    else printf("%s: %s\n", e->name, e->status ? e->status : "-");
  } else if (is_update) {
    if ((err = ep_endpoint_update(c, o.ns, name, &m.up, &e))) rc = cli_fail(c, err, "update");
    else if (m.wait && (err = ep_endpoint_wait(c, e, m.timeout, m.every))) rc = cli_fail(c, err, "wait");
    else show(e, o.json);
  } else if (!strcmp(cmd, "delete") || !strcmp(cmd, "rm")) {
    if ((err = ep_endpoint_delete(c, o.ns, name))) rc = cli_fail(c, err, "delete");
    else printf("%s deleted\n", name);
  } else if (!strcmp(cmd, "logs")) {
    rc = do_logs(c, &o, name, m.follow);
  } else {
    rc = usage_mgmt();
  }
  ep_endpoint_free(e);
  ep_client_free(c);
  cli_list_free(&m.env);
  cli_list_free(&m.secrets);
  cli_list_free(&m.img_env);
  return rc;
}
