#!/usr/bin/python3
# Writes qwick's golden Qwen2 fixtures: small deterministic random models in HF layout (config.json,
# safetensors single or sharded) plus reference logits from scripts/qwen2_ref.py; also writes big random
# models of real shapes (0.5B, 3B) for speed tests.
#
#   make_fixtures.py [--out tests/fixtures] [--check]     regenerate (or regenerate into a temp dir and
#                                                         compare with the committed SHA256SUMS)
#   make_fixtures.py --big 3b --dtype bf16 --out /tmp/qwen3b-bf16   a random model of a real shape

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402
from qwen2_ref import Qwen2Config, Qwen2Ref, rel_err  # noqa: E402

TRANSFORMERS_VERSION = "4.43.1"  # what the written config.json claims; any 4.4x reads these files
ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
TORCH_DTYPE_NAME = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}

REL_ERR_DEF = ("max|a - ref| / max|ref| over the whole logits array (all positions, all vocab entries); "
               "ref is the float32 reference except in f64_vs_f32 where ref is the float64 run")

# ------------------------------------------------------------------------------------------- the cases
# Shapes are smaller than first planned where needed to keep tests/fixtures under 4 MB; each keeps the
# property it exists for (GQA ratio, odd sizes, sharding, storage dtype, head_dim 128).
CASES = [
    dict(name="gqa1_tied_f32", seed=101, heads=4, kv_heads=4, head_dim=16, inter=160, layers=2, vocab=384,
         theta=10000.0, eps=1e-6, tied=True, dtype="f32", shards=1, prompt_len=11, prompt2_len=8,
         desc="MHA (4 q heads = 4 kv heads), head_dim 16, hidden 64, tied lm_head, f32, single file"),
    dict(name="gqa7_untied_f32_sharded", seed=202, heads=14, kv_heads=2, head_dim=8, inter=101, layers=3,
         vocab=211, theta=1000000.0, eps=1e-5, tied=False, dtype="f32", shards=3, prompt_len=13, prompt2_len=7,
         desc="GQA 7 (14 q / 2 kv heads), head_dim 8, hidden 112, odd intermediate 101 and vocab 211, "
              "untied lm_head, f32, three shards + index"),
    dict(name="gqa8_tied_bf16", seed=303, heads=8, kv_heads=1, head_dim=16, inter=136, layers=2, vocab=512,
         theta=1000000.0, eps=1e-6, tied=True, dtype="bf16", shards=1, prompt_len=9, prompt2_len=12,
         desc="GQA 8 (8 q / 1 kv head), head_dim 16, hidden 128, tied lm_head, bf16 weights"),
    dict(name="gqa2_untied_f16", seed=404, heads=4, kv_heads=2, head_dim=32, inter=96, layers=2, vocab=320,
         theta=1000000.0, eps=1e-6, tied=False, dtype="f16", shards=1, prompt_len=10, prompt2_len=13,
         desc="GQA 2 (4 q / 2 kv heads), head_dim 32, hidden 128, untied lm_head, f16 weights"),
    dict(name="gqa2_tied_f32_head128", seed=505, heads=2, kv_heads=1, head_dim=128, inter=64, layers=1,
         vocab=256, theta=1000000.0, eps=1e-6, tied=True, dtype="f32", shards=1, prompt_len=12, prompt2_len=9,
         desc="GQA 2 (2 q / 1 kv head), head_dim 128 as in Qwen2.5-1.5B..7B (full RoPE frequency range), "
              "hidden 256, 1 layer, tied lm_head, f32"),
]
N_DECODE = 6
# Prompts are redrawn (deterministically) until every greedy choice wins by at least this much, so that an
# implementation within bf16 rounding of the reference still makes the same greedy choices.
MIN_MARGIN = 0.25

BIG = {  # real Qwen2.5 shapes (random weights: speed does not depend on values)
    "0.5b": dict(hidden=896, inter=4864, layers=24, heads=14, kv_heads=2, vocab=151936, tied=True),
    "1.5b": dict(hidden=1536, inter=8960, layers=28, heads=12, kv_heads=2, vocab=151936, tied=True),
    "3b": dict(hidden=2048, inter=11008, layers=36, heads=16, kv_heads=2, vocab=151936, tied=True),
    "7b": dict(hidden=3584, inter=18944, layers=28, heads=28, kv_heads=4, vocab=152064, tied=False),
}


def hf_config(hidden, inter, layers, heads, kv_heads, vocab, theta, eps, tied, dtype, bos, eos, max_pos=32768):
    """config.json as Qwen2.5 checkpoints have it."""
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "max_position_embeddings": max_pos,
        "max_window_layers": layers,
        "model_type": "qwen2",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": theta,
        "sliding_window": max_pos,
        "tie_word_embeddings": tied,
        "torch_dtype": TORCH_DTYPE_NAME[dtype],
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab,
    }


def tensor_specs(cfg):
    """(name, shape, kind) in HF state_dict order; kind picks the init distribution."""
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = H // nh
    out = [("model.embed_tokens.weight", (V, H), "embed")]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [
            (p + "self_attn.q_proj.weight", (nh * hd, H), "qk"),
            (p + "self_attn.q_proj.bias", (nh * hd,), "qk_bias"),
            (p + "self_attn.k_proj.weight", (nkv * hd, H), "qk"),
            (p + "self_attn.k_proj.bias", (nkv * hd,), "qk_bias"),
            (p + "self_attn.v_proj.weight", (nkv * hd, H), "proj"),
            (p + "self_attn.v_proj.bias", (nkv * hd,), "v_bias"),
            (p + "self_attn.o_proj.weight", (H, nh * hd), "proj"),
            (p + "mlp.gate_proj.weight", (I, H), "proj"),
            (p + "mlp.up_proj.weight", (I, H), "proj"),
            (p + "mlp.down_proj.weight", (H, I), "proj"),
            (p + "input_layernorm.weight", (H,), "norm"),
            (p + "post_attention_layernorm.weight", (H,), "norm"),
        ]
    out.append(("model.norm.weight", (H,), "norm"))
    if not cfg["tie_word_embeddings"]:
        out.append(("lm_head.weight", (V, H), "lm_head"))
    return out


def init_tensor(gen, shape, kind, tied, style):
    """Random f32 tensor. style 'fixture': scaled so attention and logits are far from flat (q.k/sqrt(hd)
    and logits have std of order 1-3); style 'bench': N(0, 0.02), norms 1 (values do not matter)."""
    fan_in = shape[-1]
    if style == "bench":
        if kind == "norm":
            return torch.ones(shape)
        if kind.endswith("bias"):
            return torch.randn(shape, generator=gen) * 0.02
        return torch.randn(shape, generator=gen) * 0.02
    std = {
        "embed": 2.5 / fan_in ** 0.5 if tied else 1.0,
        "lm_head": 2.5 / fan_in ** 0.5,
        "qk": 1.2 / fan_in ** 0.5,
        "proj": 1.0 / fan_in ** 0.5,
        "qk_bias": 0.3,
        "v_bias": 0.1,
        "norm": 0.1,
    }[kind]
    t = torch.randn(shape, generator=gen) * std
    if kind == "norm":
        t = t + 1.0
    return t


def write_model(model_dir, cfg, dtype, n_shards, seed, style="fixture", gen_cfg=None):
    """Writes config.json, generation_config.json and the weights (streamed tensor by tensor)."""
    os.makedirs(model_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    st = ST_DTYPE[dtype]
    tied = cfg["tie_word_embeddings"]

    def producer(shape, kind):
        def get():
            t = init_tensor(gen, shape, kind, tied, style)
            if st == "BF16":
                if style == "bench":  # fast path for GB-sized models; same rounding (checked in self_test)
                    return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
                return st_io.encode(t.numpy(), "BF16")
            return st_io.encode(t.numpy(), st)
        return get

    # Generation order is the spec order, which is the write order: the RNG stream is fixed by it.
    w = [st_io.WTensor(n, st, s, producer(s, k)) for n, s, k in tensor_specs(cfg)]
    files = st_io.write_hf_weights(model_dir, w, n_shards)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    g = gen_cfg or {"bos_token_id": cfg["bos_token_id"], "do_sample": False,
                    "eos_token_id": cfg["eos_token_id"], "max_new_tokens": 2048,
                    "transformers_version": TRANSFORMERS_VERSION}
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump(g, f, indent=2, sort_keys=True)
        f.write("\n")
    return files


def make_prompt(rng, n, vocab, with_ends):
    p = rng.integers(1, vocab - 1, size=n)
    if with_ends:
        i, j = rng.choice(n, size=2, replace=False)
        p[i], p[j] = 0, vocab - 1
    return p.astype(np.int32)


def make_case(c, out_root):
    d = os.path.join(out_root, c["name"])
    if os.path.exists(d):
        shutil.rmtree(d)
    H = c["heads"] * c["head_dim"]
    cfg = hf_config(H, c["inter"], c["layers"], c["heads"], c["kv_heads"], c["vocab"], c["theta"], c["eps"],
                    c["tied"], c["dtype"], bos=c["vocab"] - 1, eos=c["vocab"] - 1)
    write_model(d, cfg, c["dtype"], c["shards"], c["seed"])

    # f32 reference (weights read back from the files just written, upcast exactly)
    m32 = Qwen2Ref(d, "f32")
    for attempt in range(1000):
        rng = np.random.default_rng([c["seed"], attempt])
        prompt = make_prompt(rng, c["prompt_len"], c["vocab"], True)
        prompt2 = make_prompt(rng, c["prompt2_len"], c["vocab"], False)
        pre, toks, dec = m32.generate(prompt, N_DECODE)
        srt = np.sort(np.concatenate([pre[-1:], dec[:-1]]), axis=-1)
        margins = (srt[:, -1] - srt[:, -2]).tolist()  # top1 - top2 of the logits each greedy choice came from
        if min(margins) >= MIN_MARGIN:
            break
    else:
        raise RuntimeError(f"{c['name']}: no prompt with greedy margins >= {MIN_MARGIN}")
    pre2, _, _ = m32.generate(prompt2, 0)

    # f64 run on the same weights and the same token path
    m64 = Qwen2Ref(d, "f64")
    p64, d64 = m64.decode_forced(prompt, toks)
    p64b, _ = m64.decode_forced(prompt2, [])
    del m64
    # torch bf16 eager on the same weights (f32/f16 weights rounded to bf16 at load, as HF does)
    mbf = Qwen2Ref(d, "bf16")
    pbf, dbf = mbf.decode_forced(prompt, toks)
    pbfb, _ = mbf.decode_forced(prompt2, [])
    del mbf

    np.save(os.path.join(d, "prompt.npy"), prompt)
    np.save(os.path.join(d, "logits_prefill.npy"), pre.astype(np.float32))
    np.save(os.path.join(d, "decode_tokens.npy"), toks.astype(np.int32))
    np.save(os.path.join(d, "logits_decode.npy"), dec.astype(np.float32))
    np.save(os.path.join(d, "prompt2.npy"), prompt2)
    np.save(os.path.join(d, "logits_prefill2.npy"), pre2.astype(np.float32))

    r6 = lambda x: float(f"{x:.3g}")  # noqa: E731
    meta = {
        "case": c["name"],
        "description": c["desc"],
        "weights_dtype": c["dtype"],
        "shards": c["shards"],
        "seed": c["seed"],
        "shape": {"hidden_size": H, "num_attention_heads": c["heads"], "num_key_value_heads": c["kv_heads"],
                  "head_dim": c["head_dim"], "intermediate_size": c["inter"], "num_hidden_layers": c["layers"],
                  "vocab_size": c["vocab"], "rope_theta": c["theta"], "rms_norm_eps": c["eps"],
                  "tie_word_embeddings": c["tied"]},
        "prompt_len": int(prompt.size),
        "prompt2_len": int(prompt2.size),
        "n_decode": N_DECODE,
        "reference": "scripts/qwen2_ref.py, float32 compute on the stored weights upcast exactly to float32",
        "relative_error_definition": REL_ERR_DEF,
        "f64_vs_f32": {"prefill": r6(rel_err(pre, p64)), "decode": r6(rel_err(dec, d64)),
                       "prefill2": r6(rel_err(pre2, p64b))},
        "bf16_scale": {"prefill": r6(rel_err(pbf, pre)), "decode": r6(rel_err(dbf, dec)),
                       "prefill2": r6(rel_err(pbfb, pre2)),
                       "what": "torch bfloat16 eager (weights rounded to bf16, activations bf16, RMSNorm/softmax/"
                               "rope tables in f32 as HF) vs the float32 reference, same decode tokens"},
        "greedy_margins": [r6(x) for x in margins],
        "greedy_margins_note": f"top1 - top2 logit at the prefill's last position and decode steps 0..{N_DECODE - 2}; "
                               f"prompts were redrawn (attempt {attempt}) until all are >= {MIN_MARGIN}",
        "bf16_max_abs_diff": r6(max(float(np.abs(pbf - pre).max()), float(np.abs(dbf - dec).max()))),
        "logits_std": r6(float(pre.std())),
        "logits_max_abs": r6(float(np.abs(pre).max())),
    }
    if c["dtype"] == "f32":
        meta["bf16_scale"]["note"] = "f32 weights: informational only (bf16 compute also rounds the weights)"
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return meta


def sha_tree(root):
    out = {}
    for dp, _, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(dp, fn)
            rel = os.path.relpath(p, root)
            if rel in ("SHA256SUMS", "README.md"):
                continue
            with open(p, "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return dict(sorted(out.items()))


def self_test():
    """Writer/reader round trip and bf16 rounding against torch."""
    x = torch.randn(4097, generator=torch.Generator().manual_seed(1)) * 3
    x[:4] = torch.tensor([float("inf"), -float("inf"), 0.0, -0.0])
    a = st_io.f32_to_bf16_bits(x.numpy())
    b = x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(a, b), "bf16 rounding differs from torch"
    lin = np.linspace(-1, 1, 7).astype(np.float32)
    with tempfile.TemporaryDirectory() as td:
        ts = [st_io.WTensor("a", "F16", (3, 5), lambda: st_io.encode(np.arange(15.0).reshape(3, 5), "F16")),
              st_io.WTensor("b", "BF16", (7,), lambda: st_io.encode(lin, "BF16")),
              st_io.WTensor("c", "F32", (2, 2), lambda: st_io.encode(np.eye(2), "F32"))]
        st_io.write_hf_weights(td, ts, 3)
        r = st_io.read_hf_dir(td)
        assert np.array_equal(r["a"].to_f32(), np.arange(15.0, dtype=np.float32).reshape(3, 5))
        assert np.array_equal(r["b"].to_f32(), torch.from_numpy(lin).to(torch.bfloat16).float().numpy())
        assert np.array_equal(r["c"].to_f32(), np.eye(2, dtype=np.float32))
        with open(os.path.join(td, "model-00001-of-00003.safetensors"), "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            assert (8 + n) % 8 == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None)
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp dir and compare with <out>/SHA256SUMS")
    ap.add_argument("--big", choices=sorted(BIG), help="write a random model of this real Qwen2.5 shape")
    ap.add_argument("--dtype", default="bf16", choices=sorted(ST_DTYPE))
    ap.add_argument("--shards", type=int, default=0, help="--big: number of shards (default ~4 GB each)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    if a.big:
        if not a.out:
            ap.error("--big needs --out")
        s = BIG[a.big]
        cfg = hf_config(s["hidden"], s["inter"], s["layers"], s["heads"], s["kv_heads"], s["vocab"], 1000000.0,
                        1e-6, s["tied"], a.dtype, bos=151643, eos=151643)
        gen_cfg = {"bos_token_id": 151643, "do_sample": False, "eos_token_id": 151643, "max_new_tokens": 2048,
                   "transformers_version": TRANSFORMERS_VERSION}
        n_params = sum(int(np.prod(sh)) for _, sh, _ in tensor_specs(cfg))
        nbytes = n_params * st_io.ST_SIZE[ST_DTYPE[a.dtype]]
        shards = a.shards or max(1, -(-nbytes // (4 << 30)))
        files = write_model(a.out, cfg, a.dtype, shards, a.seed, style="bench", gen_cfg=gen_cfg)
        print(f"wrote {a.out}: {a.big} shape, {n_params / 1e9:.3f} B params, {nbytes / 1e9:.2f} GB, {files}")
        return

    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    out = a.out or os.path.join(root, "tests", "fixtures")
    self_test()
    target = tempfile.mkdtemp(prefix="qwick-fixtures-") if a.check else out
    os.makedirs(target, exist_ok=True)
    for c in CASES:
        m = make_case(c, target)
        print(f"{c['name']:26s} f64_vs_f32 prefill {m['f64_vs_f32']['prefill']:.2e} "
              f"decode {m['f64_vs_f32']['decode']:.2e} | bf16_scale prefill {m['bf16_scale']['prefill']:.2e} "
              f"decode {m['bf16_scale']['decode']:.2e} | min greedy margin {min(m['greedy_margins']):.3g}")
    sums = sha_tree(target)
    text = "".join(f"{h}  {p}\n" for p, h in sums.items())
    if a.check:
        with open(os.path.join(out, "SHA256SUMS")) as f:
            old = f.read()
        shutil.rmtree(target)
        if old != text:
            print("MISMATCH: regenerated fixtures differ from the committed SHA256SUMS")
            sys.exit(1)
        print("OK: regenerated fixtures are bit-identical to SHA256SUMS")
        return
    with open(os.path.join(out, "SHA256SUMS"), "w") as f:
        f.write(text)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(out) for fn in fns)
    print(f"wrote {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
