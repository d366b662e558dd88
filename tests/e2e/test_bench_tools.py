"""The benchmark's own tools: tools/st_to_gguf.py (our GGUF writer, F32/F16/BF16/Q8_0) read back
by a GGUF v3 reader written here from the spec (ggml docs/gguf.md: header, typed metadata,
tensor infos, aligned data), and bench/report.py's table, bound column and regression check on
hand-written raw lines. No engine, no timing: speed is measured in bench/, never asserted here.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PY = "/usr/bin/python3"
sys.path.insert(0, os.path.join(ROOT, "tools"))
import st_np  # noqa: E402  (reads the source safetensors)

# GGUF metadata value types -> struct format (8 = string, 9 = array)
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
# ggml tensor types this test knows: id -> (name, bytes per block, values per block)
GGML = {0: ("F32", 4, 1), 1: ("F16", 2, 1), 8: ("Q8_0", 34, 32), 30: ("BF16", 2, 1)}


class Reader:
    def __init__(self, path):
        self.b = open(path, "rb").read()
        self.i = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.i)
        self.i += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.i:self.i + n].decode("utf-8")
        self.i += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def read_gguf(path):
    """-> (metadata dict, {name: (type id, ne list, bytes)})"""
    r = Reader(path)
    assert r.b[:4] == b"GGUF"
    r.i = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    assert version == 3
    meta = {}
    for _ in range(n_kv):
        k = r.string()
        meta[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    align = meta.get("general.alignment", 32)
    base = (r.i + align - 1) // align * align
    assert all(b == 0 for b in r.b[r.i:base]), "padding before the data must be zeros"
    out = {}
    for name, ne, t, off in infos:
        assert off % align == 0, name
        _, bsz, per = GGML[t]
        n = int(np.prod(ne))
        assert n % per == 0
        size = n // per * bsz
        assert base + off + size <= len(r.b)
        out[name] = (t, ne, r.b[base + off:base + off + size])
    return meta, out


def convert(tmp_path, dtype, repo=os.path.join(ROOT, "models", "stories260K")):
    out = str(tmp_path / ("m-%s.gguf" % dtype))
    subprocess.run([PY, os.path.join(ROOT, "tools", "st_to_gguf.py"), repo, out, "--dtype", dtype], check=True)
    src, _ = st_np.load(os.path.join(repo, "model.safetensors"))
    return read_gguf(out), src


# tensors the converter copies without the RoPE row permutation: GGUF name -> HF name
PLAIN = {"token_embd.weight": "model.embed_tokens.weight", "blk.0.attn_v.weight": "model.layers.0.self_attn.v_proj.weight",
         "blk.1.ffn_down.weight": "model.layers.1.mlp.down_proj.weight",
         "blk.0.ffn_norm.weight": "model.layers.0.post_attention_layernorm.weight"}


def as_float(t, data):
    if t == 0:
        return np.frombuffer(data, dtype="<f4")
    if t == 1:
        return np.frombuffer(data, dtype="<f2").astype(np.float32)
    if t == 30:
        return (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    raise AssertionError("type %d" % t)


def round_even(x, mant_bits, min_exp):
    """x rounded to mant_bits stored mantissa bits, ties to even, in float64 (exact); exponents
    below min_exp share its step (subnormals). Independent of numpy's float16 cast."""
    x = np.asarray(x, dtype=np.float64)
    _, ex = np.frexp(x)  # |x| = m * 2**ex, m in [0.5, 1)
    step = np.ldexp(1.0, np.maximum(ex - 1, min_exp) - mant_bits)
    return np.round(x / step) * step  # np.round: half to even


@pytest.mark.parametrize("dtype,gtype,ftype", [("f16", 1, 1), ("bf16", 30, 32)])
def test_gguf_half_types_read_back(tmp_path, dtype, gtype, ftype):
    (meta, tensors), src = convert(tmp_path, dtype)
    assert meta["general.architecture"] == "llama"
    assert meta["general.file_type"] == ftype
    assert meta["general.alignment"] == 32
    for name, (t, ne, _) in tensors.items():
        assert t == (gtype if len(ne) >= 2 else 0), name  # matrices rounded, 1-D tensors stay F32
    for g, hf in PLAIN.items():
        t, ne, data = tensors[g]
        want = np.asarray(src[hf], dtype=np.float32)
        assert ne == list(reversed(want.shape)), g  # ne[0] is the row length
        got = as_float(t, data).reshape(want.shape)
        if t == 0:
            assert np.array_equal(got, want), g
            continue
        want_r = round_even(want, 10, -14) if t == 1 else round_even(want, 7, -126)
        assert np.array_equal(got.astype(np.float64), want_r), g


def test_gguf_f32_and_q8_0_read_back(tmp_path):
    (meta, tensors), src = convert(tmp_path, "f32")
    assert meta["general.file_type"] == 0
    want = np.asarray(src["model.embed_tokens.weight"], dtype=np.float32)
    assert np.array_equal(as_float(*tensors["token_embd.weight"][::2]).reshape(want.shape), want)
    (meta, tensors), _ = convert(tmp_path, "q8_0")
    assert meta["general.file_type"] == 7
    t, ne, data = tensors["token_embd.weight"]
    assert t == 8
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, 34)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)
    q = blocks[:, 2:].view(np.int8).astype(np.float32)
    got = (d * q).reshape(want.shape)
    # per block |error| <= amax/254 (half a step) + 127 x the f16 rounding of the scale
    amax = np.abs(want.reshape(-1, 32)).max(axis=1)
    assert np.all(np.abs(got - want).reshape(-1, 32).max(axis=1) <= amax * (1 / 254 + 2 ** -11) + 1e-12)


def report(tmp_path, raw, base=None, embed=None, extra=()):
    rp, out = tmp_path / "raw.jsonl", tmp_path / "out.json"
    rp.write_text("".join(json.dumps(x) + "\n" for x in raw))
    args = [PY, os.path.join(ROOT, "bench", "report.py"), str(rp), str(out)]
    if base is not None:
        (tmp_path / "base.json").write_text(json.dumps(base))
        args += ["--baseline", str(tmp_path / "base.json")]
    if embed is not None:
        (tmp_path / "embed.jsonl").write_text("".join(json.dumps(x) + "\n" for x in embed))
        args += ["--embed", str(tmp_path / "embed.jsonl")]
    p = subprocess.run(args + list(extra), capture_output=True, text=True)
    return p.returncode, p.stdout, json.loads(out.read_text())


def eng(engine, dtype, threads, prefill, decode, **kw):
    r = {"engine": engine, "label": "llama-124m", "dtype": dtype, "threads": threads, "prefill_tps": prefill,
         "decode_tps": decode, "first_ids": [5, 6]}
    if engine == "endpointd":
        r["weight_params"] = 1e8
    r.update(kw)
    return r


def test_report_half_rows_bound_and_new_rows(tmp_path):
    raw = [{"triad_threads": 1, "triad_gbps": 20.0},
           eng("endpointd", "f32", 1, 300, 40), eng("llama.cpp", "f32", 1, 200, 40, gguf_type="F32"),
           eng("endpointd", "bf16", 1, 250, 85), eng("llama.cpp", "bf16", 1, 200, 50, gguf_type="BF16"),
           eng("endpointd", "f16", 1, 250, 80), eng("llama.cpp", "f16", 1, 200, 100, gguf_type="F16")]
    embed = [{"engine": "endpointd", "threads": 1, "batch": 1, "seq": 128, "sentences_per_s": 3.0},
             {"engine": "endpointd", "threads": 1, "batch": 1, "seq": 128, "sentences_per_s": 3.3},
             {"engine": "onnxruntime-node-1.22.0", "threads": 1, "batch": 1, "seq": 128, "sentences_per_s": 3.0},
             {"engine": "torch-1.13.0", "threads": 1, "batch": 1, "seq": 128, "sentences_per_s": 2.0}]
    rc0, _, doc0 = report(tmp_path, raw[:3])  # a baseline with the f32 row only
    assert rc0 == 0
    rc, out, doc = report(tmp_path, raw, base=doc0, embed=embed)
    assert rc == 0, out
    rows = {(r["kind"], r["dtype"]): r for r in doc["results"]}
    bf = rows["engine", "bf16"]
    assert bf["peer_dtype"] == "BF16"
    # 1e8 weights x 2 bytes x 85 tok/s / 20 GB/s = 85%; llama.cpp 50 tok/s = 50%
    assert bf["decode_tps"]["bound_pct_endpointd"] == pytest.approx(85.0)
    assert bf["decode_tps"]["bound_pct_llama.cpp"] == pytest.approx(50.0)
    assert rows["engine", "f32"]["decode_tps"]["bound_pct_endpointd"] == pytest.approx(80.0)
    em = rows["embed", "f32"]
    assert em["sentences_per_s"]["endpointd"] == 3.3 and em["ratio"] == pytest.approx(1.1)  # best round
    assert "| llama-124m | bf16 / BF16 | 1 | decode tok/s | 85.0 | 50.0 | 1.70 | 85% / 50% | 85% / 50% |" in out
    assert "embeddings sentences/s, batch 1" in out and "| 3.30 | 3.00 | 1.10 |" in out
    assert doc["regressions"] == []
    assert "engine llama-124m bf16 threads=1" in doc["new_rows"] and "embed bert-base f32 threads=1 batch=1" in doc["new_rows"]
    assert "New rows (no baseline, not checked)" in out
    # a drop > 10% on a row that has a baseline is flagged (exit 3), embeddings included
    raw2 = [dict(x) for x in raw]
    raw2[1]["decode_tps"] = 30
    embed2 = [dict(x, sentences_per_s=x["sentences_per_s"] * (0.5 if x["engine"] == "endpointd" else 1)) for x in embed]
    rc, out, doc2 = report(tmp_path, raw2, base=doc, embed=embed2)
    assert rc == 3
    assert any("engine llama-124m f32 threads=1 decode_tps: 40.0 -> 30.0" in f for f in doc2["regressions"])
    assert any(f.startswith("REGRESSION embed bert-base f32 threads=1 batch=1") for f in doc2["regressions"])
    assert doc2["new_rows"] == []


def test_report_bound_against_adjacent_triad(tmp_path):
    # each engine line carries the triad measured right before and after it: the % of bound uses the
    # higher of the two for that line (median over repetitions); the run-wide best is reported beside it
    raw = [{"triad_threads": 2, "triad_gbps": 40.0}, {"triad_threads": 2, "triad_gbps": 30.0},
           eng("endpointd", "f16", 2, 500, 150, triad_adjacent_gbps=[30.0, 34.0]),
           eng("endpointd", "f16", 2, 500, 160, triad_adjacent_gbps=[32.0, 31.0]),
           eng("endpointd", "f16", 2, 500, 170, triad_adjacent_gbps=[40.0, 20.0]),
           eng("llama.cpp", "f16", 2, 300, 100, gguf_type="F16", triad_adjacent_gbps=[34.0, 25.0])]
    rc, out, doc = report(tmp_path, raw)
    assert rc == 0, out
    d = doc["results"][0]["decode_tps"]
    # per line: 1e8 x 2 bytes x tps / max(adjacent): 150/34 -> 88.2%, 160/32 -> 100%, 170/40 -> 85%
    assert d["bound_pct_endpointd"] == pytest.approx(100 * 2e8 * 150 / 34e9)
    assert d["bound_pct_llama.cpp"] == pytest.approx(100 * 2e8 * 100 / 34e9)
    # run-wide best 40 GB/s against the median line (160 tok/s)
    assert d["bound_pct_runbest_endpointd"] == pytest.approx(80.0)
    assert "| 88% / 59% | 80% / 50% |" in out
    assert "20.0-40.0 GB/s at 2 threads" in out


def test_report_embed_not_measured_note(tmp_path):
    rc, out, doc = report(tmp_path, [{"triad_threads": 1, "triad_gbps": 20.0}],
                          extra=["--embed-note", "not measured: python3-torch is missing"])
    assert rc == 0
    assert "Embeddings (bench/bench_embed.sh, endpointd vs onnxruntime-node): not measured: python3-torch" in out
    assert doc["embeddings"]["note"].startswith("not measured")


def test_report_streams_ratio_within_rounds(tmp_path):
    # the single stream's rate drifts between rounds (bandwidth); the 8-stream ratio is taken within
    # each round, then the median: rounds give 4.0x, 5.0x, 3.0x -> 4.0x (the ratio of the medians of
    # the levels would be 400/90 = 4.44x); end to end and decode-phase rates are reported apart
    def st(s, rnd, agg, dec):
        return {"engine": "endpointd-http", "label": "llama-124m", "dtype": "f32", "threads": 2, "streams": s,
                "round": rnd, "generated": 64 * s, "wall_s": 1.0, "aggregate_tps": agg, "decode_tps": dec}
    raw = [st(1, 0, 90, 100), st(8, 0, 300, 400), st(1, 1, 70, 80), st(8, 1, 350, 400),
           st(1, 2, 100, 130), st(8, 2, 330, 390)]
    rc, out, doc = report(tmp_path, raw)
    assert rc == 0, out
    r8 = [r for r in doc["results"] if r["kind"] == "streams" and r["streams"] == 8][0]
    assert r8["decode_tps"] == 400 and r8["decode_vs_1_stream"] == pytest.approx(4.0)
    assert r8["aggregate_tps"] == 330 and r8["vs_1_stream"] == pytest.approx(300 / 90)  # 3.33, 5.0, 3.3
    assert r8["rounds"] == 3
    assert "8 streams decoding (HTTP runtime) | 400.0 | - | 4.00x vs 1 stream" in out
    assert "end to end tok/s incl. prompts, 8 streams (HTTP runtime) | 330.0 | - | 3.33x vs 1 stream" in out


def test_report_drops_the_bandwidth_explains_are_noted_not_flagged(tmp_path):
    # baseline: triad 40 GB/s at 2 threads; now 30 (-25%). One stream (memory-bound) -20%: in line
    # with the bound, noted. 8 streams (compute-bound) -20%: flagged. Single-sequence decode -20%
    # at the same % of its adjacent triad: noted; -20% at a lower % of the bound: flagged.
    def st(s, agg):
        return {"engine": "endpointd-http", "label": "llama-124m", "dtype": "f32", "threads": 2, "streams": s,
                "round": 0, "generated": 64 * s, "wall_s": 1.0, "aggregate_tps": agg}

    def run(triad, one, eight, dec16, tri16, dec32, tri32):
        return [{"triad_threads": 2, "triad_gbps": triad}, st(1, one), st(8, eight),
                eng("endpointd", "f16", 2, 500, dec16, triad_adjacent_gbps=[tri16]),
                eng("endpointd", "f32", 2, 500, dec32, triad_adjacent_gbps=[tri32])]
    rc0, _, base = report(tmp_path, run(40.0, 100, 400, 200, 40.0, 100, 40.0))
    assert rc0 == 0
    rc, out, doc = report(tmp_path, run(30.0, 80, 320, 160, 32.0, 80, 40.0), base=base)
    assert rc == 3, out
    flagged = " ".join(doc["regressions"])
    noted = " ".join(doc["bandwidth_drops"])
    assert "streams=8 aggregate_tps: 400.0 -> 320.0" in flagged
    assert "engine llama-124m f32 threads=2 decode_tps: 100.0 -> 80.0" in flagged  # same triad: a real drop
    assert "streams=1 aggregate_tps: 100.0 -> 80.0" in noted and "bandwidth bound -25%" in noted
    assert "engine llama-124m f16 threads=2 decode_tps: 200.0 -> 160.0" in noted  # triad 40 -> 32
    assert "Lower, in line with the host's memory bandwidth (not flagged):" in out
