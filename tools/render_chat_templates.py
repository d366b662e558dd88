#!/usr/bin/python3
"""Writes golden outputs for the C chat-template renderer (src/fmt/chat_template.c).

Reference: Debian's python3-jinja2, configured like transformers'
apply_chat_template (ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks, the loopcontrols extension, transformers' tojson filter and a
raise_exception global). For every tests/data/chat_templates/<name>.jinja it
writes <name>.cases.json (a few conversations, with and without
add_generation_prompt); it also renders snippets.in.json (small feature
templates written for this test) into snippets.cases.json.

Usage: tools/render_chat_templates.py [tests/data/chat_templates]
"""
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # transformers' filter: no HTML escaping, unicode kept
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system_user": [SYSTEM, {"role": "user", "content": "  What is 2+2?\n"}],
    "multi_turn": [
        {"role": "user", "content": "Hi, who are you?"},
        {"role": "assistant", "content": "  I am a bot.  "},
        {"role": "user", "content": "Say \"caf\u00e9\" \U0001F600 with 'quotes' & <tags>."},
    ],
    "system_multi_turn": [
        SYSTEM,
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second\nquestion\twith tab"},
    ],
    "bad_alternation": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
}

# bos/eos per template family (only the strings matter to the renderer)
TOKENS = {
    "llama2": ("<s>", "</s>"), "mistral": ("<s>", "</s>"), "zephyr": ("<s>", "</s>"),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"), "gemma": ("<bos>", "<eos>"),
    "qwen": ("", "<|im_end|>"), "phi3": ("<s>", "<|endoftext|>"), "deepseek": ("<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<|EOT|>"),
}


def tokens_for(name):
    for key, val in TOKENS.items():
        if name.startswith(key):
            return val
    return ("<s>", "</s>")


def render_case(env, template, messages, bos, eos, agp):
    case = {"messages": messages, "bos_token": bos, "eos_token": eos, "add_generation_prompt": agp}
    try:
        case["expected"] = env.from_string(template).render(
            messages=messages, bos_token=bos, eos_token=eos, add_generation_prompt=agp)
    except jinja2.exceptions.TemplateError as e:
        case["error"] = str(e)
        # raised by the template's own raise_exception() (not an UndefinedError etc.)
        case["raised"] = type(e) is jinja2.exceptions.TemplateError
    return case


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "chat_templates")
    env = make_env()
    for fn in sorted(os.listdir(root)):
        if not fn.endswith(".jinja"):
            continue
        name = fn[:-len(".jinja")]
        with open(os.path.join(root, fn), encoding="utf-8") as f:
            template = f.read()
        bos, eos = tokens_for(name)
        cases = []
        for conv_name, msgs in CONVERSATIONS.items():
            for agp in (True, False):
                c = render_case(env, template, msgs, bos, eos, agp)
                c["name"] = "%s/%s/%s" % (name, conv_name, "gen" if agp else "nogen")
                cases.append(c)
        with open(os.path.join(root, name + ".cases.json"), "w", encoding="utf-8") as f:
            json.dump(cases, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print("%s: %d cases (%d errors)" % (name, len(cases), sum("error" in c for c in cases)))

    with open(os.path.join(root, "snippets.in.json"), encoding="utf-8") as f:
        snippets = json.load(f)
    out = []
    for i, s in enumerate(snippets):
        msgs = s.get("messages", CONVERSATIONS["system_multi_turn"])
        c = render_case(env, s["template"], msgs, s.get("bos_token", "<s>"), s.get("eos_token", "</s>"),
                        s.get("add_generation_prompt", True))
        c["name"] = "snippet %d" % i
        c["template"] = s["template"]
        out.append(c)
    with open(os.path.join(root, "snippets.cases.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("snippets: %d cases (%d errors)" % (len(out), sum("error" in c for c in out)))


if __name__ == "__main__":
    main()
