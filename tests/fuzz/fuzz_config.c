/* libFuzzer driver for config.json and generation_config.json parsing
 * (src/fmt/config.h). Every input goes through both parsers; an accepted
 * config must satisfy the invariants the runtime relies on. */
#include <string.h>

#include "fmt/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  ep_config c;
  memset(&c, 0, sizeof c);
  if (ep_config_parse((const char *)data, size, &c, err, sizeof err) == 0) {
    if (c.n_eos < 0 || c.n_eos > EP_CONFIG_MAX_EOS || c.n_labels < 0) {
      fprintf(stderr, "fuzz_config: bad counts n_eos=%d n_labels=%d\n", c.n_eos, c.n_labels);
      abort();
    }
    for (int i = 0; i < c.n_labels; i++)
      if (c.id2label && c.id2label[i]) (void)strlen(c.id2label[i]);
    (void)strlen(c.model_type);
    (void)strlen(c.architecture);
    (void)strlen(c.hidden_act);
    ep_config_free(&c);
  } else {
    if (memchr(err, 0, sizeof err) == NULL) abort();
  }
  ep_gen_config g;
  if (ep_gen_config_parse((const char *)data, size, &g, err, sizeof err) == 0) {
    if (g.n_eos < 0 || g.n_eos > EP_CONFIG_MAX_EOS) abort();
  }
  return 0;
}
