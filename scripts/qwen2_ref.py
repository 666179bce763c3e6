#!/usr/bin/python3
# Independent plain-PyTorch reference for the Qwen2/Qwen2.5 forward pass (what HF transformers computes in
# eager mode), with a KV cache, used to make qwick's golden fixtures and as the PyTorch speed peer's model.
#
# Usage: qwen2_ref.py MODEL_DIR --tokens 1,2,3 [--decode 5] [--dtype f32|f64|bf16] --out-prefix P
# writes P.prompt.npy, P.logits_prefill.npy [T,V] f32, and with --decode D: P.decode_tokens.npy [D]
# (greedy) and P.logits_decode.npy [D,V] f32 (logits of each decode step, run through the cache).
#
# Numerics follow HF's eager Qwen2 exactly for f32 and bf16:
#   - inv_freq = 1 / theta ** (arange(0, hd, 2) / hd) in float32; angles pos*inv_freq, cos, sin in float32,
#     then cast to the compute dtype; rotate_half (NeoX style: halves, not interleaved pairs);
#   - RMSNorm: x in float32, x * rsqrt(mean(x^2) + eps), cast back to compute dtype, then weight * x;
#   - attention: (q @ k^T) * head_dim**-0.5, additive causal mask, softmax in float32, cast back, @ v;
#     GQA: query head h uses kv head h // (n_heads / n_kv_heads);
#   - MLP: down(silu(gate(x)) * up(x)); q/k/v have biases, o/gate/up/down do not;
#   - lm_head tied to embed_tokens when tie_word_embeddings is true.
# f64 mode runs the same graph with every step (rope, norms, softmax) in float64: a high-precision check of
# the f32 path, not something HF does.

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

DTYPES = {"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16}


# ----------------------------------------------------------------------------------------------- config

class Qwen2Config:
    """The config.json fields that change the math, with Qwen2Config's defaults where a field is absent."""

    def __init__(self, d):
        self.raw = d
        self.vocab_size = int(d.get("vocab_size", 151936))
        self.hidden_size = int(d.get("hidden_size", 4096))
        self.intermediate_size = int(d.get("intermediate_size", 22016))
        self.num_hidden_layers = int(d.get("num_hidden_layers", 32))
        self.num_attention_heads = int(d.get("num_attention_heads", 32))
        kv = d.get("num_key_value_heads")
        self.num_key_value_heads = int(kv) if kv is not None else self.num_attention_heads
        hd = d.get("head_dim")
        self.head_dim = int(hd) if hd else self.hidden_size // self.num_attention_heads
        self.rms_norm_eps = float(d.get("rms_norm_eps", 1e-6))
        rp = d.get("rope_parameters") or {}
        self.rope_theta = float(d.get("rope_theta", rp.get("rope_theta", 10000.0)))
        self.tie_word_embeddings = bool(d.get("tie_word_embeddings", False))
        self.max_position_embeddings = int(d.get("max_position_embeddings", 32768))
        act = d.get("hidden_act", "silu")
        if act != "silu":
            raise NotImplementedError(f"hidden_act {act!r}: only silu is supported")
        rs = d.get("rope_scaling") or rp
        if rs and rs.get("rope_type", rs.get("type", "default")) != "default":
            raise NotImplementedError(f"rope scaling {rs!r} is not supported by the reference")
        if d.get("use_sliding_window", False):
            raise NotImplementedError("use_sliding_window true is not supported by the reference")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")

    @staticmethod
    def load(model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            return Qwen2Config(json.load(f))


# ---------------------------------------------------------------------------------------------- weights

def to_torch(st, dtype):
    """STensor -> torch tensor of the compute dtype. Upcasts are exact; to bf16 from f32/f16 rounds to
    nearest even, as torch's .to(bfloat16) (HF loading with torch_dtype=bfloat16) does."""
    if dtype == torch.bfloat16 and st.dtype == "BF16":
        return torch.from_numpy(st.raw.view(np.int16).copy()).view(torch.bfloat16)
    if dtype == torch.float64:
        return torch.from_numpy(np.ascontiguousarray(st.to_f64()))
    t = torch.from_numpy(np.ascontiguousarray(st.to_f32()))
    return t if dtype == torch.float32 else t.to(dtype)


class Qwen2Weights:
    def __init__(self, cfg, tensors, dtype):
        def get(name):
            if name not in tensors:
                raise KeyError(f"missing tensor {name}")
            return to_torch(tensors[name], dtype)

        H, V = cfg.hidden_size, cfg.vocab_size
        qd = cfg.num_attention_heads * cfg.head_dim
        kvd = cfg.num_key_value_heads * cfg.head_dim
        I = cfg.intermediate_size
        self.embed = get("model.embed_tokens.weight")                 # (V, H)
        self.layers = []
        for i in range(cfg.num_hidden_layers):
            p = f"model.layers.{i}."
            L = {
                "in_norm": get(p + "input_layernorm.weight"),            # (H)
                "wq": get(p + "self_attn.q_proj.weight"),                # (qd, H)
                "bq": get(p + "self_attn.q_proj.bias"),                  # (qd)
                "wk": get(p + "self_attn.k_proj.weight"),                # (kvd, H)
                "bk": get(p + "self_attn.k_proj.bias"),                  # (kvd)
                "wv": get(p + "self_attn.v_proj.weight"),                # (kvd, H)
                "bv": get(p + "self_attn.v_proj.bias"),                  # (kvd)
                "wo": get(p + "self_attn.o_proj.weight"),                # (H, qd)
                "post_norm": get(p + "post_attention_layernorm.weight"),  # (H)
                "wg": get(p + "mlp.gate_proj.weight"),                   # (I, H)
                "wu": get(p + "mlp.up_proj.weight"),                     # (I, H)
                "wd": get(p + "mlp.down_proj.weight"),                   # (H, I)
            }
            want = {"in_norm": (H,), "wq": (qd, H), "bq": (qd,), "wk": (kvd, H), "bk": (kvd,),
                    "wv": (kvd, H), "bv": (kvd,), "wo": (H, qd), "post_norm": (H,),
                    "wg": (I, H), "wu": (I, H), "wd": (H, I)}
            for k, shp in want.items():
                if tuple(L[k].shape) != shp:
                    raise ValueError(f"{p}{k}: shape {tuple(L[k].shape)}, expected {shp}")
            self.layers.append(L)
        self.norm = get("model.norm.weight")                          # (H)
        if cfg.tie_word_embeddings:
            self.lm_head = self.embed                                 # (V, H), shared
        else:
            self.lm_head = get("lm_head.weight")
        if tuple(self.embed.shape) != (V, H) or tuple(self.lm_head.shape) != (V, H):
            raise ValueError("embed_tokens / lm_head shape does not match config")


# ------------------------------------------------------------------------------------------------ model

class KVCache:
    """Per layer, keys (after RoPE) and values as [n_kv_heads, seq, head_dim], grown by concatenation
    like HF's DynamicCache."""

    def __init__(self, n_layers):
        self.k = [None] * n_layers
        self.v = [None] * n_layers
        self.length = 0

    def update(self, layer, k, v):
        if self.k[layer] is None:
            self.k[layer], self.v[layer] = k, v
        else:
            self.k[layer] = torch.cat([self.k[layer], k], dim=1)
            self.v[layer] = torch.cat([self.v[layer], v], dim=1)
        return self.k[layer], self.v[layer]


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Qwen2Ref:
    def __init__(self, model_dir=None, dtype="f32", cfg=None, tensors=None):
        if model_dir is not None:
            cfg = Qwen2Config.load(model_dir)
            tensors = st_io.read_hf_dir(model_dir)
        self.cfg = cfg
        self.dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
        # dtype of the "float32 islands" (rope tables, RMSNorm, softmax): f32 as HF, f64 in f64 mode
        self.acc = torch.float64 if self.dtype == torch.float64 else torch.float32
        self.w = Qwen2Weights(cfg, tensors, self.dtype)
        hd = cfg.head_dim
        self.inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).to(self.acc) / hd))
        self.scaling = hd ** -0.5

    def new_cache(self):
        return KVCache(self.cfg.num_hidden_layers)

    def rope_tables(self, positions):
        freqs = positions.to(self.acc)[:, None] * self.inv_freq[None, :]   # (T, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)                            # (T, hd)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def rmsnorm(self, x, w):
        xf = x.to(self.acc)
        var = xf.pow(2).mean(-1, keepdim=True)
        xf = xf * torch.rsqrt(var + self.cfg.rms_norm_eps)
        return w * xf.to(self.dtype)

    @torch.no_grad()
    def forward(self, tokens, start_pos, cache, trace=None):
        """tokens: T ids at positions start_pos..start_pos+T-1; cache must hold exactly start_pos positions
        and is extended by T. Returns logits (T, V) in the compute dtype. With a dict as trace, records
        intermediate activations (T, ...) for debugging another implementation: embed, and per layer i
        attn_norm.i, q.i/k.i (after RoPE, (T, heads*hd)), v.i, attn_out.i (before o_proj), resid_attn.i,
        mlp_act.i (silu(gate)*up), resid_mlp.i; then final_norm."""
        rec = (lambda k, t: trace.__setitem__(k, t.clone())) if trace is not None else (lambda k, t: None)
        cfg, W = self.cfg, self.w
        tokens = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
        T = tokens.shape[0]
        if cache.length != start_pos:
            raise ValueError(f"cache holds {cache.length} positions, start_pos is {start_pos}")
        if int(tokens.min()) < 0 or int(tokens.max()) >= cfg.vocab_size:
            raise ValueError("token id out of range")
        nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        nrep = nh // nkv
        S = start_pos + T
        pos = torch.arange(start_pos, S, dtype=torch.int64)
        cos, sin = self.rope_tables(pos)
        # additive causal mask (T, S): query i (position start_pos+i) sees keys 0..start_pos+i
        allowed = torch.arange(S)[None, :] <= pos[:, None]
        mask = torch.zeros(T, S, dtype=self.dtype).masked_fill(~allowed, torch.finfo(self.dtype).min)

        x = W.embed[tokens]                                                    # (T, H)
        rec("embed", x)
        for li, L in enumerate(W.layers):
            h = self.rmsnorm(x, L["in_norm"])
            rec(f"attn_norm.{li}", h)
            q = F.linear(h, L["wq"], L["bq"]).view(T, nh, hd).transpose(0, 1)  # (nh, T, hd)
            k = F.linear(h, L["wk"], L["bk"]).view(T, nkv, hd).transpose(0, 1)  # (nkv, T, hd)
            v = F.linear(h, L["wv"], L["bv"]).view(T, nkv, hd).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            rec(f"q.{li}", q.transpose(0, 1).reshape(T, nh * hd))
            rec(f"k.{li}", k.transpose(0, 1).reshape(T, nkv * hd))
            rec(f"v.{li}", v.transpose(0, 1).reshape(T, nkv * hd))
            K, Vv = cache.update(li, k, v)                                     # (nkv, S, hd)
            K = K[:, None].expand(nkv, nrep, S, hd).reshape(nh, S, hd)
            Vv = Vv[:, None].expand(nkv, nrep, S, hd).reshape(nh, S, hd)
            att = torch.matmul(q, K.transpose(1, 2)) * self.scaling            # (nh, T, S)
            att = att + mask
            att = F.softmax(att, dim=-1, dtype=self.acc).to(self.dtype)
            o = torch.matmul(att, Vv).transpose(0, 1).reshape(T, nh * hd)      # (T, nh*hd)
            rec(f"attn_out.{li}", o)
            x = x + F.linear(o, L["wo"])
            rec(f"resid_attn.{li}", x)
            h = self.rmsnorm(x, L["post_norm"])
            a = F.silu(F.linear(h, L["wg"])) * F.linear(h, L["wu"])
            rec(f"mlp_act.{li}", a)
            x = x + F.linear(a, L["wd"])
            rec(f"resid_mlp.{li}", x)
        cache.length = S
        x = self.rmsnorm(x, W.norm)
        rec("final_norm", x)
        return F.linear(x, W.lm_head)

    def generate(self, prompt, n_decode):
        """Prefill the prompt, then n_decode greedy steps through the cache. Returns (prefill logits (P,V),
        decode tokens [n_decode], decode logits (n_decode, V)); logits as float32 numpy, except in f64 mode
        where they stay float64. Decode step j feeds the token chosen from the previous logits."""
        out_np = np.float64 if self.dtype == torch.float64 else np.float32
        cache = self.new_cache()
        lp = self.forward(prompt, 0, cache)
        prefill = lp.to(torch.float64 if out_np is np.float64 else torch.float32).numpy().astype(out_np)
        toks, dec = [], []
        last = prefill[-1]
        for _ in range(n_decode):
            t = int(np.argmax(last))
            toks.append(t)
            lg = self.forward([t], cache.length, cache)[0]
            last = lg.to(torch.float64 if out_np is np.float64 else torch.float32).numpy().astype(out_np)
            dec.append(last)
        V = self.cfg.vocab_size
        dec = np.stack(dec) if dec else np.zeros((0, V), out_np)
        return prefill, np.array(toks, dtype=np.int32), dec

    def decode_forced(self, prompt, tokens):
        """Prefill, then feed the given tokens one by one through the cache; returns (prefill, decode) logits
        as float64 numpy. Used to compare dtypes on the same token path."""
        cache = self.new_cache()
        pre = self.forward(prompt, 0, cache).to(torch.float64).numpy()
        dec = [self.forward([int(t)], cache.length, cache)[0].to(torch.float64).numpy() for t in tokens]
        V = self.cfg.vocab_size
        return pre, (np.stack(dec) if dec else np.zeros((0, V)))


def rel_err(a, ref):
    """max|a - ref| / max|ref| over the whole array."""
    a = np.asarray(a, np.float64)
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


# -------------------------------------------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description="Qwen2 reference forward (plain PyTorch) writing .npy files")
    ap.add_argument("model_dir")
    ap.add_argument("--tokens", required=True, help="comma-separated prompt token ids")
    ap.add_argument("--decode", type=int, default=0, help="greedy decode steps through the KV cache")
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-prefix", required=True)
    ap.add_argument("--dump", action="store_true",
                    help="also write the prefill's intermediate activations as P.act.<name>.npy (float32)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    prompt = np.array([int(t) for t in a.tokens.split(",") if t.strip()], dtype=np.int32)
    if prompt.size == 0:
        ap.error("--tokens is empty")
    m = Qwen2Ref(a.model_dir, a.dtype)
    pre, toks, dec = m.generate(prompt, a.decode)
    P = a.out_prefix
    d = os.path.dirname(P)
    if d:
        os.makedirs(d, exist_ok=True)
    np.save(P + ".prompt.npy", prompt)
    np.save(P + ".logits_prefill.npy", pre.astype(np.float32))
    if a.dump:
        tr = {}
        m.forward(prompt, 0, m.new_cache(), trace=tr)
        for k, t in tr.items():
            np.save(f"{P}.act.{k}.npy", t.to(torch.float32).numpy())
    if a.decode:
        np.save(P + ".decode_tokens.npy", toks)
        np.save(P + ".logits_decode.npy", dec.astype(np.float32))
    print(f"prefill logits {pre.shape}, last argmax {int(np.argmax(pre[-1]))}"
          + (f"; decoded {toks.tolist()}" if a.decode else ""))


if __name__ == "__main__":
    main()
