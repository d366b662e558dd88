#!/usr/bin/python3
"""Summarise bench/run.sh measurements: medians per (model, dtype, threads, engine) and
the ratio ours / llama.cpp (tokens/s; > 1 means endpointd is faster).

  report.py RAW.jsonl OUT.json [--machine TEXT]
Prints a Markdown table and writes OUT.json (medians, ratios, raw lines).
"""
import json
import statistics
import sys


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    raw, out = sys.argv[1], sys.argv[2]
    machine = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--machine" else ""
    rows, extra = [], {}
    with open(raw, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if "copy_gbps" in r:
                extra["memcpy"] = r
            elif "engine" in r:
                rows.append(r)
    groups = {}
    for r in rows:
        kind = "batch" if "batch" in r else "single"
        key = (r["label"], r["dtype"], r["threads"], kind, r.get("batch", 1))
        groups.setdefault(key, {}).setdefault(r["engine"], []).append(r)
    table, results = [], []
    for key in sorted(groups):
        label, dtype, threads, kind, batch = key
        g = groups[key]
        ours, ref = g.get("endpointd", []), g.get("llama.cpp", [])
        metrics = ("prefill_tps", "decode_tps") if kind == "single" else ("batch_decode_tps",)
        res = {"model": label, "dtype": dtype, "threads": threads, "batch": batch, "n_ours": len(ours),
               "n_llamacpp": len(ref)}
        for m in metrics:
            a = statistics.median(x[m] for x in ours) if ours else None
            b = statistics.median(x[m] for x in ref) if ref else None
            res[m] = {"endpointd": a, "llama.cpp": b, "ratio": (a / b) if a and b else None}
        if kind == "single" and ours:
            wb = ours[0].get("weight_bytes")
            dec = res["decode_tps"]["endpointd"]
            res["weight_bytes"] = wb
            res["decode_gbps_ours"] = wb * dec / 1e9 if wb and dec else None
            if ref and ref[0].get("first_ids") and ours[0].get("first_ids"):
                res["same_greedy_ids"] = ref[0]["first_ids"] == ours[0]["first_ids"]
        results.append(res)
        for m in metrics:
            v = res[m]
            fmt = lambda x: f"{x:,.1f}" if x else "-"  # noqa: E731
            ratio = f"{v['ratio']:.2f}" if v["ratio"] else "-"
            table.append(f"| {label} | {dtype} | {threads} | {m.replace('_tps', '')}"
                         f"{' B=%d' % batch if kind == 'batch' else ''} | {fmt(v['endpointd'])} | "
                         f"{fmt(v['llama.cpp'])} | {ratio} |")
    print("| model | dtype | threads | measure (tokens/s) | endpointd | llama.cpp | ours/llama.cpp |")
    print("|---|---|---|---|---:|---:|---:|")
    print("\n".join(table))
    if "memcpy" in extra:
        print(f"\nmemcpy: {extra['memcpy']['copy_gbps']:.1f} GB/s copied (read+write)")
    for r in results:
        if r.get("decode_gbps_ours"):
            print(f"{r['model']} {r['dtype']} t={r['threads']}: decode streams "
                  f"{r['decode_gbps_ours']:.2f} GB/s of weights ({r['weight_bytes'] / 1e6:.1f} MB/token)"
                  + ("" if r.get("same_greedy_ids", True) else "  [greedy ids differ]"))
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"machine": machine, "results": results, "memcpy": extra.get("memcpy"), "raw": rows}, f, indent=1)


if __name__ == "__main__":
    main()
