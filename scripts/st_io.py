#!/usr/bin/python3
# Minimal safetensors reader/writer on NumPy, written from the format spec, for the qwick reference tools.
# Reads single-file and sharded HF checkpoints (F32/F16/BF16/F64 ...); writes both, streaming tensor by tensor.
#
# Format: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
#   {"__metadata__": {...str: str}, "name": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...}
# then the data section; offsets are relative to the start of the data section, tensors are
# little-endian, row-major, contiguous. The header is padded with spaces so the data starts 8-byte aligned.

import json
import mmap
import os
import struct

import numpy as np

# safetensors dtype name -> numpy storage dtype (BF16 is kept as raw uint16 bits)
ST_NP = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
ST_SIZE = {k: np.dtype(v).itemsize for k, v in ST_NP.items()}


class STensor:
    """One tensor as stored: safetensors dtype string, shape, and a read-only numpy view of the raw data
    (uint16 bits for BF16)."""

    def __init__(self, dtype, shape, raw):
        self.dtype = dtype
        self.shape = tuple(shape)
        self.raw = raw

    def to_f32(self):
        """Exact upcast to float32 (bf16: uint16 bits << 16)."""
        if self.dtype == "BF16":
            return (self.raw.astype(np.uint32) << 16).view(np.float32).reshape(self.shape)
        return self.raw.astype(np.float32).reshape(self.shape)

    def to_f64(self):
        return self.to_f32().astype(np.float64) if self.dtype != "F64" else self.raw.astype(np.float64)


def read_header(path):
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        size = os.fstat(f.fileno()).st_size
        if n > size - 8 or n > 100 * 1024 * 1024:
            raise ValueError(f"{path}: header length {n} exceeds file size {size}")
        hdr = json.loads(f.read(n).decode("utf-8"))
    return hdr, 8 + n, size


def read_file(path):
    """Returns {name: STensor} backed by a read-only mmap of the file, and the __metadata__ dict."""
    hdr, data_start, size = read_header(path)
    meta = hdr.pop("__metadata__", {}) or {}
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size > 0 else b""
    buf = memoryview(mm)
    out = {}
    for name, info in hdr.items():
        dt = info["dtype"]
        if dt not in ST_NP:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt}")
        shape = [int(s) for s in info["shape"]]
        b, e = (int(x) for x in info["data_offsets"])
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * ST_SIZE[dt] or data_start + e > size or b < 0:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {b},{e} for {dt}{shape}")
        raw = np.frombuffer(buf[data_start + b:data_start + e], dtype=np.dtype(ST_NP[dt]).newbyteorder("<"))
        out[name] = STensor(dt, shape, raw.reshape(shape))
    return out, meta


def read_hf_dir(model_dir):
    """All tensors of an HF checkpoint directory: model.safetensors, or the shards listed by
    model.safetensors.index.json. Returns {name: STensor}."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(index):
        with open(index) as f:
            wmap = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(wmap.values())):
            part, _ = read_file(os.path.join(model_dir, shard))
            for name, t in part.items():
                if wmap.get(name) != shard:
                    raise ValueError(f"{shard}: tensor {name} not mapped to this shard by the index")
                tensors[name] = t
        missing = set(wmap) - set(tensors)
        if missing:
            raise ValueError(f"{model_dir}: tensors in index but in no shard: {sorted(missing)[:5]}")
        return tensors
    if os.path.exists(single):
        return read_file(single)[0]
    raise FileNotFoundError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")


# ---------------------------------------------------------------------------------------------- writing

class WTensor:
    """A tensor to write: dtype string, shape, and a function returning its bytes (called once, lazily,
    so a multi-GB model can be streamed tensor by tensor)."""

    def __init__(self, name, dtype, shape, get_bytes):
        self.name, self.dtype, self.shape, self.get_bytes = name, dtype, tuple(int(s) for s in shape), get_bytes

    @property
    def nbytes(self):
        n = 1
        for s in self.shape:
            n *= s
        return n * ST_SIZE[self.dtype]


def f32_to_bf16_bits(a):
    """float32 array -> uint16 bf16 bits, round to nearest even (NaN kept quiet)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def encode(a, dtype):
    """numpy float array -> bytes in safetensors dtype (F32/F16/BF16/F64/I32...)."""
    if dtype == "BF16":
        return f32_to_bf16_bits(a).astype("<u2").tobytes()
    return np.ascontiguousarray(a, dtype=np.dtype(ST_NP[dtype]).newbyteorder("<")).tobytes()


def write_file(path, wtensors, metadata=None):
    """Writes one safetensors file. Tensors are laid out in the given order."""
    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    off = 0
    for t in wtensors:
        hdr[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
        off += t.nbytes
    hj = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for t in wtensors:
            b = t.get_bytes()
            if len(b) != t.nbytes:
                raise ValueError(f"{t.name}: got {len(b)} bytes, expected {t.nbytes}")
            f.write(b)
    os.replace(tmp, path)
    return off


def write_hf_weights(model_dir, wtensors, n_shards=1):
    """Writes model.safetensors (n_shards == 1) or model-0000i-of-0000n.safetensors plus
    model.safetensors.index.json (HF naming). Shards are split in order, by size, as evenly as
    whole tensors allow. Returns the list of file names."""
    os.makedirs(model_dir, exist_ok=True)
    meta = {"format": "pt"}
    if n_shards <= 1:
        write_file(os.path.join(model_dir, "model.safetensors"), wtensors, meta)
        return ["model.safetensors"]
    total = sum(t.nbytes for t in wtensors)
    groups = [[] for _ in range(n_shards)]
    acc, g = 0, 0
    for i, t in enumerate(wtensors):
        left_tensors = len(wtensors) - i
        left_groups = n_shards - g - 1
        # move on when this shard has its share, keeping at least one tensor for each later shard
        if groups[g] and g < n_shards - 1 and (acc >= total * (g + 1) / n_shards or left_tensors <= left_groups):
            g += 1
        groups[g].append(t)
        acc += t.nbytes
    names, wmap = [], {}
    for i, grp in enumerate(groups):
        fn = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        write_file(os.path.join(model_dir, fn), grp, meta)
        names.append(fn)
        for t in grp:
            wmap[t.name] = fn
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(wmap.items()))}
    with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return names
