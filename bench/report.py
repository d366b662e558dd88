#!/usr/bin/python3
"""Summarise a bench/run.sh run as one Markdown report: the engine table (prefill/decode tok/s,
endpointd vs llama.cpp for f32/F32, f16/F16, bf16/BF16, int8/Q8_0, % of the triad bandwidth
bound; aggregate decode through the HTTP runtime at 1/2/4/8 streams; embeddings, endpointd vs
onnxruntime-node, from bench/bench_embed.sh's JSON lines), gateway overhead, wake from zero;
then compare endpointd's numbers with a baseline file and flag drops > 10% (exit status 3).
Rows the baseline lacks are listed as new, not flagged.

  report.py RAW.jsonl OUT.json [--lscpu FILE] [--gateway FILE] [--wake FILE]
            [--embed JSONL] [--embed-note TEXT] [--baseline FILE] [--quick 0|1]
"""
import argparse
import json
import re
import statistics

DROP = 0.10  # flag endpointd numbers more than 10% below the baseline
# bytes per matrix weight: ours by --dtype (int8 = 32 int8 + an f32 scale), llama.cpp's by GGUF type
OUR_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "int8": 36 / 32}
PEER_BYTES = {"F32": 4.0, "F16": 2.0, "BF16": 2.0, "Q8_0": 34 / 32}
REF_DTYPE = {"int8": "Q8_0", "f32": "F32", "f16": "F16", "bf16": "BF16"}  # raw lines without gguf_type
EMBED_PEER = "onnxruntime-node"


def machine(lscpu_path):
    if not lscpu_path:
        return {}
    f = {}
    with open(lscpu_path, encoding="utf-8") as fh:
        for line in fh:
            k, _, v = line.partition(":")
            f[k.strip()] = v.strip()
    flags = set(f.get("Flags", "").split())
    with open("/proc/meminfo", encoding="utf-8") as fh:
        mem = int(fh.readline().split()[1]) // (1024 * 1024)
    with open("/proc/loadavg", encoding="utf-8") as fh:
        load = " ".join(fh.read().split()[:3])
    simd = "/".join(x.upper() for x in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni") if x in flags)
    return {"cpu": f.get("Model name", "?"), "cpus": f.get("CPU(s)", "?"),
            "threads_per_core": f.get("Thread(s) per core", "?"), "hypervisor": f.get("Hypervisor vendor", ""),
            "l2": f.get("L2 cache", "?"), "l3": f.get("L3 cache", "?"), "simd": simd, "mem_gib": mem,
            "load_after_run": load}


def parse_gateway(path):
    out = {}
    try:
        txt = open(path, encoding="utf-8").read()
    except OSError:
        return None
    for name in ("direct", "gateway", "added"):
        m = re.search(r"^%s\s+p50 ([\d.]+) us\s+p99 ([-\d.]+) us" % name, txt, re.M)
        if m:
            out[name] = {"p50_us": float(m.group(1)), "p99_us": float(m.group(2))}
    return out or None


def parse_wake(path):
    out = {}
    try:
        txt = open(path, encoding="utf-8").read()
    except OSError:
        return None
    for m in re.finditer(r"^(\S+)\s+wake TTFB median (\d+) ms\s+min (\d+) ms\s+max (\d+) ms\s+\(n=(\d+)\)", txt, re.M):
        out[m.group(1)] = {"median_ms": float(m.group(2)), "min_ms": float(m.group(3)),
                           "max_ms": float(m.group(4)), "n": int(m.group(5))}
    return out or None


def med(rows, key):
    v = [r[key] for r in rows if r.get(key)]
    return statistics.median(v) if v else None


def vs_one(rows, one, key):
    """Ratio of a stream level to one stream: the median over rounds of the ratio within
    each round (the single stream's bandwidth-bound rate drifts between minutes), or the
    ratio of the medians for lines without rounds."""
    by_round = {r["round"]: r[key] for r in one if r.get(key) and "round" in r}
    ratios = [r[key] / by_round[r["round"]] for r in rows if r.get(key) and r.get("round") in by_round]
    if ratios:
        return statistics.median(ratios)
    a, b = med(rows, key), med(one, key)
    return a / b if a and b else None


def summarise_embed(rows):
    """bench_embed.sh JSON lines -> one result per (threads, batch): best round of each engine."""
    best = {}
    for r in rows:
        eng = "endpointd" if r["engine"] == "endpointd" else EMBED_PEER if r["engine"].startswith(EMBED_PEER) \
            else "torch" if r["engine"].startswith("torch") else r["engine"]
        g = best.setdefault((r["threads"], r["batch"]), {})
        if eng not in g or r["sentences_per_s"] > g[eng]["sentences_per_s"]:
            g[eng] = r
    out = []
    for (threads, batch), g in sorted(best.items()):
        v = {e: g[e]["sentences_per_s"] if e in g else None for e in ("endpointd", EMBED_PEER, "torch")}
        a, b = v["endpointd"], v[EMBED_PEER]
        out.append({"kind": "embed", "model": "bert-base", "dtype": "f32", "threads": threads, "batch": batch,
                    "seq": next(iter(g.values()))["seq"], "sentences_per_s": v, "ratio": a / b if a and b else None,
                    "peer_version": g[EMBED_PEER]["engine"] if EMBED_PEER in g else None,
                    "torch_version": g["torch"]["engine"] if "torch" in g else None})
    return out


def summarise(lines):
    triad, single, streams = {}, {}, {}
    for r in lines:
        if "triad_gbps" in r:
            triad[r["triad_threads"]] = max(r["triad_gbps"], triad.get(r["triad_threads"], 0))
        elif r.get("engine") == "endpointd-http":
            streams.setdefault((r["label"], r["dtype"], r["threads"], r["streams"]), []).append(r)
        elif "prefill_tps" in r:
            single.setdefault((r["label"], r["dtype"], r["threads"]), {}).setdefault(r["engine"], []).append(r)
    params = {k[0]: v["endpointd"][0]["weight_params"] for k, v in single.items()
              if v.get("endpointd") and v["endpointd"][0].get("weight_params")}
    results = []
    for (label, dtype, threads), g in sorted(single.items()):
        peer = g.get("llama.cpp", [{}])[0].get("gguf_type") or REF_DTYPE.get(dtype, dtype)
        res = {"kind": "engine", "model": label, "dtype": dtype, "peer_dtype": peer, "threads": threads}
        for m in ("prefill_tps", "decode_tps"):
            a, b = med(g.get("endpointd", []), m), med(g.get("llama.cpp", []), m)
            res[m] = {"endpointd": a, "llama.cpp": b, "ratio": a / b if a and b else None}
        bw = triad.get(threads)
        for eng, nbytes in (("endpointd", OUR_BYTES.get(dtype)), ("llama.cpp", PEER_BYTES.get(peer))):
            tps = res["decode_tps"][eng]
            if not (tps and label in params and nbytes):
                continue
            per_byte = 100 * params[label] * nbytes
            # against the triad measured right before and after the line itself (the higher of the
            # two; lines without it fall back to the run-wide best), median over repetitions
            pcts = [per_byte * r["decode_tps"] / (max(r.get("triad_adjacent_gbps") or [bw or 0]) * 1e9)
                    for r in g.get(eng, []) if r.get("decode_tps") and (r.get("triad_adjacent_gbps") or bw)]
            if pcts:
                res["decode_tps"]["bound_pct_" + eng] = statistics.median(pcts)
            if bw:
                res["decode_tps"]["bound_pct_runbest_" + eng] = per_byte * tps / (bw * 1e9)
        o, l = g.get("endpointd", [{}])[0].get("first_ids"), g.get("llama.cpp", [{}])[0].get("first_ids")
        if o and l:
            res["same_first_ids"] = o == l
        results.append(res)
    for (label, dtype, threads, s), g in sorted(streams.items()):
        one = streams.get((label, dtype, threads, 1), [])
        res = {"kind": "streams", "model": label, "dtype": dtype, "threads": threads, "streams": s,
               "rounds": len(g)}
        for m in ("aggregate_tps", "decode_tps"):
            res[m] = med(g, m)
            res[m.replace("_tps", "_vs_1_stream")] = vs_one(g, one, m)
        res["vs_1_stream"] = res.pop("aggregate_vs_1_stream")
        results.append(res)
    return triad, results


def key_of(r):
    return (r["kind"], r["model"], r["dtype"], r["threads"], r.get("streams", 0), r.get("batch", 0))


def fmt(x, spec=",.1f"):
    return format(x, spec) if x else "-"


def table(results, triad, adjacent=None):
    out = ["| model | dtype (ours / peer) | threads | measure | endpointd | peer | "
           "endpointd / peer | % of triad bound (ours / peer) | % of run-best triad (ours / peer) |",
           "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        dt = "%s / %s" % (r["dtype"], r.get("peer_dtype") or REF_DTYPE.get(r["dtype"], r["dtype"]))
        if r["kind"] == "embed":
            v = r["sentences_per_s"]
            torch = (" (PyTorch eager %s)" % fmt(v["torch"], ".2f")) if v.get("torch") else ""
            out.append("| %s | f32 / f32 (ONNX) | %d | embeddings sentences/s, batch %d, %d tokens; peer %s%s "
                       "| %s | %s | %s | |" % (r["model"], r["threads"], r["batch"], r["seq"],
                                              r.get("peer_version") or EMBED_PEER, torch,
                                              fmt(v["endpointd"], ".2f"), fmt(v[EMBED_PEER], ".2f"),
                                              fmt(r["ratio"], ".2f")) + " |")
        elif r["kind"] == "engine":
            for m, name in (("prefill_tps", "prefill tok/s, 128-token prompt"), ("decode_tps", "decode tok/s")):
                v = r[m]
                bound = runbest = ""
                if m == "decode_tps" and v.get("bound_pct_endpointd"):
                    bound = "%.0f%% / %s" % (v["bound_pct_endpointd"], fmt(v.get("bound_pct_llama.cpp"), ".0f") + "%")
                if m == "decode_tps" and v.get("bound_pct_runbest_endpointd"):
                    runbest = "%.0f%% / %s" % (v["bound_pct_runbest_endpointd"],
                                              fmt(v.get("bound_pct_runbest_llama.cpp"), ".0f") + "%")
                out.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
                    r["model"], dt, r["threads"], name, fmt(v["endpointd"]), fmt(v["llama.cpp"]),
                    fmt(v["ratio"], ".2f"), bound, runbest))
        else:
            many = r["streams"] > 1
            if r.get("decode_tps"):
                note = ("%.2fx vs 1 stream" % r["decode_vs_1_stream"]) if many and r.get("decode_vs_1_stream") else ""
                out.append("| %s | %s | %d | aggregate decode tok/s, %d stream%s decoding (HTTP runtime) | %s | - | %s | | |"
                           % (r["model"], r["dtype"], r["threads"], r["streams"], "s" if many else "",
                              fmt(r["decode_tps"]), note))
            note = ("%.2fx vs 1 stream" % r["vs_1_stream"]) if many and r["vs_1_stream"] else ""
            out.append("| %s | %s | %d | end to end tok/s incl. prompts, %d stream%s (HTTP runtime) | %s | - | %s | | |" % (
                r["model"], r["dtype"], r["threads"], r["streams"], "s" if many else "",
                fmt(r["aggregate_tps"]), note))
    out.append("")
    out.append("Peer: llama.cpp (node-llama-cpp 3.22.1 CPU build) for the llama/gpt2 rows, %s for the "
               "embeddings rows." % EMBED_PEER)
    if triad:
        out.append("Triad bandwidth bound (bench/triad.c, 3 x 128 MiB arrays, best of 8), run-wide best (start and "
                   "end of the run): " +
                   ", ".join("%.1f GB/s at %d thread%s" % (v, t, "s" if t > 1 else "") for t, v in sorted(triad.items())))
    if adjacent:
        out.append("Triad right before / after each engine line (the % of bound column uses the higher of the two): " +
                   ", ".join("%.1f-%.1f GB/s at %d thread%s" % (min(v), max(v), t, "s" if t > 1 else "")
                             for t, v in sorted(adjacent.items())))
    return out


def row_name(r):
    return "%s %s %s threads=%d%s%s" % (r["kind"], r["model"], r["dtype"], r["threads"],
                                        " streams=%d" % r["streams"] if r["kind"] == "streams" else "",
                                        " batch=%d" % r["batch"] if r["kind"] == "embed" else "")


def measures(r):
    """endpointd's numbers of a result row: [(name, value, unit)]."""
    if r["kind"] == "engine":
        return [(m, r[m]["endpointd"], "tok/s") for m in ("prefill_tps", "decode_tps")]
    if r["kind"] == "embed":
        return [("sentences_per_s", r["sentences_per_s"]["endpointd"], "sentences/s")]
    return [("aggregate_tps", r["aggregate_tps"], "tok/s"), ("decode_tps", r.get("decode_tps"), "tok/s")]


def bandwidth_scale(r, m, b, triad, base_triad):
    """How much the memory-bound rate of this row should have moved with the host's bandwidth
    (now / baseline), or None for compute-bound rows. Single-sequence decode follows the triad
    measured next to it (its % of bound); 1-2 streams follow the run's triad at their thread
    count. The host's bandwidth moves by up to ~1.8x between minutes."""
    if r["kind"] == "engine" and m == "decode_tps":
        now_pct = r["decode_tps"].get("bound_pct_endpointd")
        was_pct = b.get("decode_tps", {}).get("bound_pct_endpointd")
        if now_pct and was_pct:
            return (r["decode_tps"]["endpointd"] / now_pct) / (b["decode_tps"]["endpointd"] / was_pct)
    if r["kind"] == "streams" and r["streams"] <= 2:
        now, was = triad.get(r["threads"]), base_triad.get(str(r["threads"]), base_triad.get(r["threads"]))
        if now and was:
            return now / was
    return None


def compare(results, baseline, triad=None):
    """-> (flags, notes, new): drops > DROP vs the baseline's row; drops of memory-bound rows that
    the host's lower bandwidth accounts for (noted, not flagged); rows the baseline does not have."""
    flags, notes, new = [], [], []
    base = {key_of(r): r for r in baseline.get("results", [])}
    for r in results:
        b = base.get(key_of(r))
        if not b:
            new.append(row_name(r))
            continue
        for (m, now, unit), (_, was, _) in zip(measures(r), measures(b)):
            if not (now and was) or now >= (1 - DROP) * was:
                continue
            line = "%s %s: %.1f -> %.1f %s (%+.0f%%)" % (row_name(r), m, was, now, unit, 100 * (now / was - 1))
            scale = bandwidth_scale(r, m, b, triad or {}, baseline.get("triad_gbps") or {})
            if scale and now >= (1 - DROP) * was * scale:
                notes.append("%s; bandwidth bound %+.0f%%" % (line, 100 * (scale - 1)))
            else:
                flags.append("REGRESSION " + line)
    return flags, notes, new


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--lscpu")
    ap.add_argument("--gateway")
    ap.add_argument("--wake")
    ap.add_argument("--embed")
    ap.add_argument("--embed-note", default="")
    ap.add_argument("--baseline")
    ap.add_argument("--quick", default="0")
    a = ap.parse_args()
    lines = []
    with open(a.raw, encoding="utf-8") as f:
        for line in f:
            if line.strip().startswith("{"):
                lines.append(json.loads(line))
    triad, results = summarise(lines)
    emb_rows = []
    if a.embed:
        try:
            with open(a.embed, encoding="utf-8") as f:
                emb_rows = [json.loads(x) for x in f if x.strip().startswith("{")]
        except OSError:
            pass
    results += summarise_embed(emb_rows)
    mach = machine(a.lscpu)
    gw, wake = parse_gateway(a.gateway) if a.gateway else None, parse_wake(a.wake) if a.wake else None
    doc = {"machine": mach, "quick": a.quick == "1", "triad_gbps": triad, "results": results,
           "gateway": gw, "wake": wake, "embeddings": {"rows": emb_rows, "note": a.embed_note or None},
           "raw": lines}
    print("Machine: %s, %s CPUs (%s thread/core)%s, L2 %s, L3 %s, %s, %d GiB; load after run %s" % (
        mach.get("cpu"), mach.get("cpus"), mach.get("threads_per_core"),
        ", " + mach["hypervisor"] + " guest" if mach.get("hypervisor") else "", mach.get("l2"), mach.get("l3"),
        mach.get("simd"), mach.get("mem_gib", 0), mach.get("load_after_run")) if mach else "")
    print()
    adjacent = {}
    for r in lines:
        for v in r.get("triad_adjacent_gbps") or []:
            adjacent.setdefault(r["threads"], []).append(v)
    print("\n".join(table(results, triad, adjacent)))
    print()
    if gw and "added" in gw:
        print("Gateway overhead (GET /health, direct vs through the gateway): direct p50 %.1f us / p99 %.1f us, "
              "gateway p50 %.1f us / p99 %.1f us, added p50 %.1f us / p99 %.1f us" % (
                  gw["direct"]["p50_us"], gw["direct"]["p99_us"], gw["gateway"]["p50_us"], gw["gateway"]["p99_us"],
                  gw["added"]["p50_us"], gw["added"]["p99_us"]))
    else:
        print("Gateway overhead: not measured (bench_gateway.py failed)")
    if wake:
        print("Wake from zero (TTFB through the gateway): " + "; ".join(
            "%s median %.0f ms (min %.0f, max %.0f, n=%d)" % (k, v["median_ms"], v["min_ms"], v["max_ms"], v["n"])
            for k, v in wake.items()))
    else:
        print("Wake from zero: not measured (bench_wake.py failed)")
    if a.embed_note or not emb_rows:
        print("Embeddings (bench/bench_embed.sh, endpointd vs %s): %s" % (
            EMBED_PEER, a.embed_note or "not measured: no results"))
    flags, new = [], []
    if a.baseline:
        try:
            with open(a.baseline, encoding="utf-8") as f:
                base = json.load(f)
        except OSError:
            base = None
            print("\nRegression check: no baseline at %s" % a.baseline)
        if base is not None:
            if base.get("quick") != doc["quick"]:
                print("\nRegression check: baseline is a %s run, this is a %s run; compared where rows match" % (
                    "QUICK" if base.get("quick") else "full", "QUICK" if doc["quick"] else "full"))
            flags, notes, new = compare(results, base, triad)
            print("\nRegression check vs %s (endpointd numbers, > %d%% drop): %s" % (
                a.baseline, int(DROP * 100), "%d flagged" % len(flags) if flags else "none"))
            for x in flags:
                print("  " + x)
            if notes:
                print("Lower, in line with the host's memory bandwidth (not flagged):")
                for x in notes:
                    print("  " + x)
            doc["bandwidth_drops"] = notes
            if new:
                print("New rows (no baseline, not checked): " + "; ".join(new))
    doc["regressions"] = flags
    doc["new_rows"] = new
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    return 3 if flags else 0


if __name__ == "__main__":
    raise SystemExit(main())
