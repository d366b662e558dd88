#!/usr/bin/python3
"""safetensors read/write with plain numpy, including BF16 (stored as raw uint16).

Layout: 8-byte little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets:[b,e]}, "__metadata__": {...}}, then the data region.
Used by make_tiny_model.py and ref_gpt2.py (dev tools; not shipped).
"""
import json
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
       "I32": np.int32, "U8": np.uint8, "BF16": np.uint16}


def bf16_to_f32(u16):
    return (np.asarray(u16, dtype=np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """Round-to-nearest-even float32 -> bf16 bits (uint16)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)


def save(path, tensors, metadata=None):
    """tensors: name -> numpy array, or name -> ("BF16", uint16 array)."""
    header = {"__metadata__": metadata or {"format": "pt"}}
    blobs, off = [], 0
    for name in sorted(tensors):
        v = tensors[name]
        if isinstance(v, tuple):
            dt, arr = v
        else:
            arr = np.asarray(v)
            dt = {np.dtype(t): k for k, t in _NP.items() if k != "BF16"}[arr.dtype]
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((-(8 + len(hj))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def load(path, as_float=True):
    """name -> numpy array (BF16/F16 widened to float32 when as_float)."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    hdr.pop("__metadata__", None)
    out = {}
    for name, info in hdr.items():
        b, e = info["data_offsets"]
        a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=_NP[info["dtype"]]).reshape(info["shape"])
        if as_float and info["dtype"] == "BF16":
            a = bf16_to_f32(a)
        elif as_float and info["dtype"] == "F16":
            a = a.astype(np.float32)
        out[name] = a
    return out, {k: v["dtype"] for k, v in hdr.items()}
