/* `endpointd runtime`: one model replica serving TGI/OpenAI routes (usable
 * alone, like llama-server). Parses flags with TGI-style env fallbacks, starts
 * the HTTP server at once (/health answers 503 while the model loads on a
 * helper thread), exits when --parent-pid dies, and stops gracefully on
 * SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/err.h"
#include "base/log.h"
#include "cmds.h"
#include "http/http.h"
#include "rt/server.h"
#include "rt/tei.h"

typedef struct {
  uv_loop_t *loop;
  ep_http_server *srv;
  ep_rt *rt;
  uv_signal_t sigint, sigterm;
  uv_timer_t tick;
  int parent_pid, stopping, exit_code, load_reported;
} rt_state;

static void usage(FILE *f) {
  fprintf(f,
          "usage: endpointd runtime --model DIR [options]\n\n"
          "  --model DIR                  Hugging Face model folder (env MODEL_DIR)\n"
          "  --task T                     text-generation | feature-extraction |\n"
          "                               sentence-similarity | text-classification (env TASK)\n"
          "  --host H                     listen address (default 127.0.0.1)\n"
          "  --port P                     listen port, 0 = any (env PORT, default 8080)\n"
          "  --unix PATH                  also listen on this Unix-domain socket (\"\" = no)\n"
          "  --threads N                  compute threads, 0 = all cores (env THREADS)\n"
          "  --max-total-tokens N         prompt + generated per request (env MAX_TOTAL_TOKENS;\n"
          "                               default min(n_ctx, 2048))\n"
          "  --max-input-tokens N         prompt tokens (env MAX_INPUT_TOKENS / MAX_INPUT_LENGTH)\n"
          "  --max-batch-size N           sequences per step (env MAX_BATCH_SIZE, default 8)\n"
          "  --max-concurrent-requests N  queued + running; more -> 429 (env\n"
          "                               MAX_CONCURRENT_REQUESTS, default 128)\n"
          "  --max-stop-sequences N       (env MAX_STOP_SEQUENCES, default 4)\n"
          "  --max-top-n-tokens N         (env MAX_TOP_N_TOKENS, default 5)\n"
          "  --dtype T                    float32|float16|bfloat16|int8 (env DTYPE)\n"
          "  --model-id NAME              name in /info and OpenAI responses (env MODEL_ID;\n"
          "                               default the folder name)\n"
          "  --parent-pid P               exit when process P is no longer our parent\n"
          "  --log-level L                debug|info|warn|error (env LOG_LEVEL)\n");
}

static const char *env2(const char *a, const char *b) {
  const char *v = a ? getenv(a) : NULL;
  if (v && *v) return v;
  v = b ? getenv(b) : NULL;
  return v && *v ? v : NULL;
}

static int parse_int(const char *flag, const char *v, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < 0 || x > 100000000) {
    fprintf(stderr, "endpointd runtime: %s: not a valid number: %s\n", flag, v);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static int parse_dtype(const char *v, ep_dtype *d) {
  if (!strcmp(v, "float32") || !strcmp(v, "f32")) *d = EP_DTYPE_F32;
  else if (!strcmp(v, "float16") || !strcmp(v, "f16")) *d = EP_DTYPE_F16;
  else if (!strcmp(v, "bfloat16") || !strcmp(v, "bf16")) *d = EP_DTYPE_BF16;
  else if (!strcmp(v, "int8") || !strcmp(v, "q8")) *d = EP_DTYPE_INT8;
  else return -1;
  return 0;
}

static void on_closed_all(void *arg) {
  rt_state *st = arg;
  uv_close((uv_handle_t *)&st->sigint, NULL);
  uv_close((uv_handle_t *)&st->sigterm, NULL);
  uv_close((uv_handle_t *)&st->tick, NULL);
}

static void stop(rt_state *st, int code) {
  if (st->stopping) return;
  st->stopping = 1;
  st->exit_code = code;
  ep_log_info("runtime stopping", "code=%d", code);
  if (st->rt) ep_rt_close(st->rt, NULL, NULL); /* cancels generations so streams end */
  ep_http_server_shutdown(st->srv, on_closed_all, st);
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)sig;
  stop(h->data, 0);
}

static void on_tick(uv_timer_t *t) {
  rt_state *st = t->data;
  if (st->parent_pid > 0 && getppid() != st->parent_pid) {
    ep_log_warn("parent process gone, exiting", "parent_pid=%d", st->parent_pid);
    stop(st, 0);
    return;
  }
  if (!st->load_reported && ep_rt_ready(st->rt) == -1) {
    st->load_reported = 1;
    fprintf(stderr, "endpointd runtime: cannot load model: %s\n", ep_rt_load_error(st->rt));
    stop(st, 1);
  }
}

int cmd_runtime(int argc, char **argv) {
  ep_rt_params p = ep_rt_default_params();
  const char *host = "127.0.0.1", *unix_path = NULL, *v, *log_level = env2("LOG_LEVEL", NULL);
  int port = 8080, parent = 0;
  p.model_dir = env2("MODEL_DIR", NULL);
  p.model_id = env2("MODEL_ID", NULL);
  if ((v = env2("TASK", NULL))) p.task = v;
  if ((v = env2("PORT", NULL)) && parse_int("PORT", v, &port)) return 2;
  if ((v = env2("THREADS", NULL)) && parse_int("THREADS", v, &p.threads)) return 2;
  if ((v = env2("MAX_TOTAL_TOKENS", NULL)) && parse_int("MAX_TOTAL_TOKENS", v, &p.max_total_tokens))
    return 2;
  if ((v = env2("MAX_INPUT_TOKENS", "MAX_INPUT_LENGTH")) &&
      parse_int("MAX_INPUT_TOKENS", v, &p.max_input_tokens))
    return 2;
  if ((v = env2("MAX_BATCH_SIZE", NULL)) && parse_int("MAX_BATCH_SIZE", v, &p.max_batch_size))
    return 2;
  if ((v = env2("MAX_CONCURRENT_REQUESTS", NULL)) &&
      parse_int("MAX_CONCURRENT_REQUESTS", v, &p.max_concurrent_requests))
    return 2;
  if ((v = env2("MAX_STOP_SEQUENCES", NULL)) &&
      parse_int("MAX_STOP_SEQUENCES", v, &p.max_stop_sequences))
    return 2;
  if ((v = env2("MAX_TOP_N_TOKENS", NULL)) && parse_int("MAX_TOP_N_TOKENS", v, &p.max_top_n_tokens))
    return 2;
  if ((v = env2("DTYPE", NULL)) && parse_dtype(v, &p.dtype)) {
    fprintf(stderr, "endpointd runtime: unknown DTYPE %s\n", v);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    }
    v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "endpointd runtime: %s needs a value (see --help)\n", a);
      return 2;
    }
    i++;
    int rc = 0;
    if (!strcmp(a, "--model")) p.model_dir = v;
    else if (!strcmp(a, "--task")) p.task = v;
    else if (!strcmp(a, "--host")) host = v;
    else if (!strcmp(a, "--port")) rc = parse_int(a, v, &port);
    else if (!strcmp(a, "--unix")) unix_path = v;
    else if (!strcmp(a, "--threads")) rc = parse_int(a, v, &p.threads);
    else if (!strcmp(a, "--max-total-tokens")) rc = parse_int(a, v, &p.max_total_tokens);
    else if (!strcmp(a, "--max-input-tokens") || !strcmp(a, "--max-input-length"))
      rc = parse_int(a, v, &p.max_input_tokens);
    else if (!strcmp(a, "--max-batch-size")) rc = parse_int(a, v, &p.max_batch_size);
    else if (!strcmp(a, "--max-concurrent-requests"))
      rc = parse_int(a, v, &p.max_concurrent_requests);
    else if (!strcmp(a, "--max-stop-sequences")) rc = parse_int(a, v, &p.max_stop_sequences);
    else if (!strcmp(a, "--max-top-n-tokens")) rc = parse_int(a, v, &p.max_top_n_tokens);
    else if (!strcmp(a, "--model-id")) p.model_id = v;
    else if (!strcmp(a, "--parent-pid")) rc = parse_int(a, v, &parent);
    else if (!strcmp(a, "--log-level")) log_level = v;
    else if (!strcmp(a, "--dtype")) {
      if (parse_dtype(v, &p.dtype)) {
        fprintf(stderr, "endpointd runtime: unknown --dtype %s\n", v);
        return 2;
      }
    } else {
      fprintf(stderr, "endpointd runtime: unknown option %s (see --help)\n", a);
      return 2;
    }
    if (rc) return 2;
  }
  if (!p.model_dir) {
    fprintf(stderr, "endpointd runtime: --model DIR is required\n");
    usage(stderr);
    return 2;
  }
  if (strcmp(p.task, "text-generation") != 0 && !ep_tei_is_task(p.task)) {
    fprintf(stderr, "endpointd runtime: task '%s' is not supported (text-generation, "
            "feature-extraction, sentence-similarity, text-classification)\n", p.task);
    return 2;
  }
  if (log_level) {
    ep_log_level lvl;
    if (ep_log_parse_level(log_level, &lvl) == EP_OK) ep_log_set_level(lvl);
  }
  if (parent > 0 && getppid() != parent) {
    fprintf(stderr, "endpointd runtime: parent %d is already gone\n", parent);
    return 1;
  }

  signal(SIGPIPE, SIG_IGN); /* a client that went away must not kill the replica */
  rt_state st = {0};
  st.loop = uv_default_loop();
  st.parent_pid = parent;
  if (ep_rt_new(st.loop, &p, &st.rt) != EP_OK) {
    fprintf(stderr, "endpointd runtime: out of memory\n");
    return 1;
  }
  ep_http_server_params hp = ep_http_server_default_params();
  hp.host = host;
  hp.port = port;
  hp.unix_path = unix_path;
  hp.name = "runtime";
  int rc = ep_http_server_start(st.loop, &hp, ep_rt_handle, st.rt, &st.srv);
  if (rc != EP_OK) {
    fprintf(stderr, "endpointd runtime: cannot listen on %s:%d%s%s: %s\n", host, port,
            unix_path && *unix_path ? " or " : "", unix_path ? unix_path : "", ep_strerror(rc));
    ep_rt_close(st.rt, NULL, NULL);
    uv_run(st.loop, UV_RUN_DEFAULT);
    ep_rt_free(st.rt);
    return 1;
  }
  ep_log_info("runtime listening", "host=%s port=%d model=\"%s\"", host,
              ep_http_server_port(st.srv), p.model_dir);
  /* a line the supervisor / tests may parse to learn the port */
  fprintf(stdout, "endpointd runtime listening on http://%s:%d\n", host, ep_http_server_port(st.srv));
  if (unix_path && *unix_path) fprintf(stdout, "endpointd runtime listening on unix:%s\n", unix_path);
  fflush(stdout);
  ep_rt_load_start(st.rt);
  uv_signal_init(st.loop, &st.sigint);
  uv_signal_init(st.loop, &st.sigterm);
  st.sigint.data = st.sigterm.data = &st;
  uv_signal_start(&st.sigint, on_signal, SIGINT);
  uv_signal_start(&st.sigterm, on_signal, SIGTERM);
  uv_timer_init(st.loop, &st.tick);
  st.tick.data = &st;
  uv_timer_start(&st.tick, on_tick, 200, 500);
  uv_run(st.loop, UV_RUN_DEFAULT);
  ep_http_server_free(st.srv);
  ep_rt_free(st.rt);
  uv_loop_close(st.loop);
  return st.exit_code;
}
