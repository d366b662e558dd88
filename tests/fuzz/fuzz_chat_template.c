/* libFuzzer driver for the chat template interpreter (src/fmt/chat_template.h).
 * Input: "<template>[\0<user message content>]". The template is compiled and
 * rendered with a small conversation; the limits of chat_template.h (output,
 * iterations, depth, memory) must turn hostile templates into errors. */
#include <string.h>

#include "fmt/chat_template.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  const uint8_t *nul = memchr(data, 0, size);
  size_t tlen = nul ? (size_t)(nul - data) : size;
  char *src = strndup((const char *)data, tlen);
  char *content = nul ? strndup((const char *)nul + 1, size - tlen - 1) : strdup("Hi {{ x }}");
  if (!src || !content) abort();
  ep_chat_msg msgs[] = {{"system", "You are helpful."}, {"user", content},
                        {"assistant", "Hello!"},        {"user", NULL}};
  ep_chat_vars vars = {"<s>", "</s>", 1};
  char err[256], *out = NULL;
  ep_chat_tmpl *t = NULL;
  if (ep_chat_tmpl_compile(src, &t, err, sizeof err) == 0) {
    for (size_t n = 2; n <= 4; n += 2) {
      out = NULL;
      if (ep_chat_tmpl_render(t, msgs, n, &vars, &out, err, sizeof err) == 0) {
        if (strlen(out) > EP_CHAT_MAX_OUTPUT) {
          fprintf(stderr, "fuzz_chat_template: output over the limit (%zu)\n", strlen(out));
          abort();
        }
        free(out);
      }
    }
    ep_chat_tmpl_free(t);
  }
  free(src);
  free(content);
  return 0;
}
