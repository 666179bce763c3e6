#!/usr/bin/python3
# Self-checks of the Qwen2 reference: a second, deliberately naive float64 NumPy implementation (per-head,
# per-position loops, RoPE as explicit rotations of the pairs (i, i + hd/2)), cache consistency, and the
# committed fixtures against a fresh reference run. Usage: check_ref.py [FIXTURES_DIR]

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402
from qwen2_ref import Qwen2Config, Qwen2Ref, rel_err  # noqa: E402


def naive_forward(model_dir, tokens):
    """Logits (T, V) in float64, written independently of qwen2_ref's tensor formulation."""
    cfg = Qwen2Config.load(model_dir)
    t = st_io.read_hf_dir(model_dir)
    W = {k: v.to_f64() for k, v in t.items()}
    nh, nkv, hd, eps = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.rms_norm_eps
    half = hd // 2

    def rms(x, w):
        return w * (x / np.sqrt(np.mean(x * x) + eps))

    def rope(vec, p):
        out = vec.copy()
        for i in range(half):
            ang = p * cfg.rope_theta ** (-(2.0 * i) / hd)
            c, s = np.cos(ang), np.sin(ang)
            a, b = vec[i], vec[i + half]
            out[i] = a * c - b * s
            out[i + half] = b * c + a * s
        return out

    T = len(tokens)
    x = np.stack([W["model.embed_tokens.weight"][tok] for tok in tokens])
    for l in range(cfg.num_hidden_layers):
        p = f"model.layers.{l}."
        g = lambda n: W[p + n]  # noqa: E731
        newx = np.empty_like(x)
        ks = [[None] * T for _ in range(nkv)]
        vs = [[None] * T for _ in range(nkv)]
        qs = [[None] * T for _ in range(nh)]
        for i in range(T):
            h = rms(x[i], g("input_layernorm.weight"))
            q = g("self_attn.q_proj.weight") @ h + g("self_attn.q_proj.bias")
            k = g("self_attn.k_proj.weight") @ h + g("self_attn.k_proj.bias")
            v = g("self_attn.v_proj.weight") @ h + g("self_attn.v_proj.bias")
            for hh in range(nh):
                qs[hh][i] = rope(q[hh * hd:(hh + 1) * hd], i)
            for kh in range(nkv):
                ks[kh][i] = rope(k[kh * hd:(kh + 1) * hd], i)
                vs[kh][i] = v[kh * hd:(kh + 1) * hd]
        for i in range(T):
            o = np.zeros(nh * hd)
            for hh in range(nh):
                kh = hh // (nh // nkv)
                sc = np.array([qs[hh][i] @ ks[kh][j] / np.sqrt(hd) for j in range(i + 1)])
                e = np.exp(sc - sc.max())
                pr = e / e.sum()
                o[hh * hd:(hh + 1) * hd] = sum(pr[j] * vs[kh][j] for j in range(i + 1))
            xa = x[i] + g("self_attn.o_proj.weight") @ o
            h = rms(xa, g("post_attention_layernorm.weight"))
            gt = g("mlp.gate_proj.weight") @ h
            up = g("mlp.up_proj.weight") @ h
            newx[i] = xa + g("mlp.down_proj.weight") @ (gt / (1 + np.exp(-gt)) * up)
        x = newx
    head = W["model.embed_tokens.weight"] if cfg.tie_word_embeddings else W["lm_head.weight"]
    return np.stack([head @ rms(x[i], W["model.norm.weight"]) for i in range(T)])


def main():
    torch.set_num_threads(2)
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    ok = True
    for case in sorted(os.listdir(root)):
        d = os.path.join(root, case)
        if not os.path.isdir(d):
            continue
        prompt = np.load(os.path.join(d, "prompt.npy"))
        toks = np.load(os.path.join(d, "decode_tokens.npy"))
        full = np.concatenate([prompt, toks[:-1]])  # every decode step's input is the previous choice
        naive = naive_forward(d, full)
        m64 = Qwen2Ref(d, "f64")
        pre64, dec64 = m64.decode_forced(prompt, toks)
        e_naive = rel_err(np.concatenate([pre64, dec64[:-1]]), naive)
        # cache consistency: one prefill of everything vs. token-by-token through the cache
        c = m64.new_cache()
        one = m64.forward(full, 0, c).numpy()
        e_cache = rel_err(one, np.concatenate([pre64, dec64[:-1]]))
        # committed fixtures vs. a fresh f32 run
        m32 = Qwen2Ref(d, "f32")
        pre, t2, dec = m32.generate(prompt, len(toks))
        e_fix = max(rel_err(np.load(os.path.join(d, "logits_prefill.npy")), pre),
                    rel_err(np.load(os.path.join(d, "logits_decode.npy")), dec))
        same_toks = np.array_equal(t2, toks)
        good = e_naive < 1e-12 and e_cache < 1e-12 and e_fix == 0.0 and same_toks
        ok &= good
        print(f"{case:26s} ref64 vs naive64 {e_naive:.1e}  prefill vs cached {e_cache:.1e}  "
              f"fixture vs rerun {e_fix:.1e}  tokens {'same' if same_toks else 'DIFFER'}  "
              f"{'ok' if good else 'FAIL'}")
    print("all ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
