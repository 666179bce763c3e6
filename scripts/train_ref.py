#!/usr/bin/python3
# PyTorch autograd reference for qwick's training engine (src/train): a small random Qwen2 model, a batch,
# the loss and every parameter gradient (computed in float64), and ten AdamW steps (float32, two accumulated
# micro-batches per step, global-norm clipping, warm-up + cosine) with their losses. tests/test_train_torch.c
# reads what this writes; the committed copy is tests/train_fixtures/<case>/.
#
#   train_ref.py [--out tests/train_fixtures]
#
# The forward is HF transformers' eager Qwen2 written out as differentiable tensor code: embedding, RMSNorm
# (x * rsqrt(mean(x^2) + eps), then weight *), q/k/v with bias, RoPE with f32 inverse frequencies and HF's
# rotate_half, causal GQA attention (kv head h // group), softmax, o_proj, SiLU(gate) * up -> down,
# residuals, final norm, lm_head (tied or not), cross-entropy over the tokens whose mask is 1, summed and
# divided by their count. AdamW is torch.optim.AdamW with weight decay on matrices and embeddings only.

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

CASES = [
    dict(name="gqa2_tied", seed=11, vocab=96, hidden=32, layers=2, heads=4, kv_heads=2, inter=48, tied=True,
         theta=10000.0, eps=1e-6, B=2, T=9),
    dict(name="gqa4_untied", seed=22, vocab=71, hidden=48, layers=2, heads=4, kv_heads=1, inter=40, tied=False,
         theta=1000000.0, eps=1e-5, B=3, T=7),
]
OPT = dict(lr=3e-3, min_lr=3e-4, warmup=3, steps=10, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip=1.0,
           accum=2)


def names(c):
    out = ["model.embed_tokens.weight"]
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        out += [p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.q_proj.bias",
                p + "self_attn.k_proj.weight", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.weight",
                p + "self_attn.v_proj.bias", p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight",
                p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"]
    out.append("model.norm.weight")
    if not c["tied"]:
        out.append("lm_head.weight")
    return out


def init_params(c, gen):
    """Weights scaled so that attention and logits are far from flat (a sharper test than N(0, 0.02))."""
    H, V, I = c["hidden"], c["vocab"], c["inter"]
    hd = H // c["heads"]
    qd, kvd = c["heads"] * hd, c["kv_heads"] * hd
    shapes = {"embed_tokens.weight": (V, H), "input_layernorm.weight": (H,), "q_proj.weight": (qd, H),
              "q_proj.bias": (qd,), "k_proj.weight": (kvd, H), "k_proj.bias": (kvd,), "v_proj.weight": (kvd, H),
              "v_proj.bias": (kvd,), "o_proj.weight": (H, qd), "post_attention_layernorm.weight": (H,),
              "gate_proj.weight": (I, H), "up_proj.weight": (I, H), "down_proj.weight": (H, I),
              "norm.weight": (H,), "lm_head.weight": (V, H)}
    P = {}
    for n in names(c):
        shp = shapes[".".join(n.split(".")[-2:])]
        if "norm" in n:
            t = 1.0 + 0.2 * torch.randn(shp, generator=gen)
        elif len(shp) == 1:
            t = 0.3 * torch.randn(shp, generator=gen)
        elif "embed" in n:
            t = torch.randn(shp, generator=gen) * (2.5 / math.sqrt(H) if c["tied"] else 1.0)
        else:
            t = torch.randn(shp, generator=gen) / math.sqrt(shp[1]) * (1.5 if "lm_head" in n else 1.0)
        P[n] = t.float()
    return P


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def loss_fn(c, P, tokens, targets, mask, dtype):
    """Sum of the cross-entropies of the counted tokens (the caller divides)."""
    B, T = tokens.shape
    H, nh, nkv = c["hidden"], c["heads"], c["kv_heads"]
    hd = H // nh
    g = nh // nkv
    x = P["model.embed_tokens.weight"][tokens]
    inv = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))  # f32 as HF
    fr = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat((fr, fr), -1)
    cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
    causal = torch.full((T, T), float("-inf"), dtype=dtype).triu(1)
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        h = rms(x, P[p + "input_layernorm.weight"], c["eps"])
        q = h @ P[p + "self_attn.q_proj.weight"].T + P[p + "self_attn.q_proj.bias"]
        k = h @ P[p + "self_attn.k_proj.weight"].T + P[p + "self_attn.k_proj.bias"]
        v = h @ P[p + "self_attn.v_proj.weight"].T + P[p + "self_attn.v_proj.bias"]
        q = q.view(B, T, nh, hd).transpose(1, 2)
        k = k.view(B, T, nkv, hd).transpose(1, 2)
        v = v.view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(g, dim=1)
        v = v.repeat_interleave(g, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) * hd ** -0.5 + causal, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + o @ P[p + "self_attn.o_proj.weight"].T
        h = rms(x, P[p + "post_attention_layernorm.weight"], c["eps"])
        a = torch.nn.functional.silu(h @ P[p + "mlp.gate_proj.weight"].T) * (h @ P[p + "mlp.up_proj.weight"].T)
        x = x + a @ P[p + "mlp.down_proj.weight"].T
    x = rms(x, P["model.norm.weight"], c["eps"])
    lm = P["model.embed_tokens.weight"] if c["tied"] else P["lm_head.weight"]
    logits = x @ lm.T
    sel = mask.bool()
    return torch.nn.functional.cross_entropy(logits[sel], targets[sel], reduction="sum")


def lr_at(step, o):
    """qwick's qw_lr_schedule: linear warm-up, then cosine to min_lr at the last step."""
    if step < o["warmup"]:
        return o["lr"] * (step + 1) / o["warmup"]
    r = min(1.0, (step - o["warmup"]) / (o["steps"] - o["warmup"]))
    return o["min_lr"] + 0.5 * (o["lr"] - o["min_lr"]) * (1 + math.cos(math.pi * r))


def make_case(c, out):
    gen = torch.Generator().manual_seed(c["seed"])
    P32 = init_params(c, gen)
    B, T, V = c["B"], c["T"], c["vocab"]
    n_batches = 1 + OPT["steps"] * OPT["accum"]
    tokens = torch.randint(0, V, (n_batches, B, T), generator=gen)
    targets = torch.randint(0, V, (n_batches, B, T), generator=gen)
    mask = (torch.rand((n_batches, B, T), generator=gen) < 0.7).long()
    mask[:, 0, -1] = 1  # never an empty batch

    d = os.path.join(out, c["name"])
    os.makedirs(d, exist_ok=True)
    hd = c["hidden"] // c["heads"]
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
           "hidden_size": c["hidden"], "intermediate_size": c["inter"], "num_hidden_layers": c["layers"],
           "num_attention_heads": c["heads"], "num_key_value_heads": c["kv_heads"], "head_dim": hd,
           "vocab_size": V, "max_position_embeddings": 4096, "rms_norm_eps": c["eps"], "rope_theta": c["theta"],
           "tie_word_embeddings": c["tied"], "torch_dtype": "float32", "bos_token_id": None, "eos_token_id": 0,
           "use_sliding_window": False, "sliding_window": 4096, "rope_scaling": None}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    def wt(name, a):
        a = np.ascontiguousarray(a.detach().numpy().astype(np.float32))
        return st_io.WTensor(name, "F32", a.shape, lambda a=a: a.tobytes())

    st_io.write_hf_weights(d, [wt(n, P32[n]) for n in names(c)])
    np.save(os.path.join(d, "tokens.npy"), tokens.numpy().astype(np.int32))
    np.save(os.path.join(d, "targets.npy"), targets.numpy().astype(np.int32))
    np.save(os.path.join(d, "mask.npy"), mask.numpy().astype(np.int32))

    # gradients of batch 0 in float64 (a high-precision reference for qwick's f32)
    P64 = {n: t.double().requires_grad_(True) for n, t in P32.items()}
    n0 = int(mask[0].sum())
    loss = loss_fn(c, P64, tokens[0], targets[0], mask[0], torch.float64) / n0
    loss.backward()
    st_io.write_file(os.path.join(d, "grads.safetensors"), [wt(n, P64[n].grad) for n in names(c)])

    # ten AdamW steps in float32, each over micro-batches 1 + 2s and 2 + 2s
    P = {n: t.clone().requires_grad_(True) for n, t in P32.items()}
    decay = [P[n] for n in names(c) if P[n].dim() == 2]
    no_decay = [P[n] for n in names(c) if P[n].dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPT["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=OPT["lr"],
                            betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"])
    losses = []
    for s in range(OPT["steps"]):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(s, OPT)
        opt.zero_grad()
        idx = [1 + OPT["accum"] * s + a for a in range(OPT["accum"])]
        n = int(sum(int(mask[i].sum()) for i in idx))
        total = 0.0
        for i in idx:
            li = loss_fn(c, P, tokens[i], targets[i], mask[i], torch.float32) / n
            li.backward()
            total += float(li)
        torch.nn.utils.clip_grad_norm_(list(P.values()), OPT["clip"])
        opt.step()
        losses.append(total)
    meta = dict(case=c, opt=OPT, loss=float(loss), adamw_losses=losses, torch=torch.__version__,
                grads_dtype="float64 autograd, stored as f32")
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"{c['name']}: loss {float(loss):.6f}, AdamW losses {' '.join(f'{x:.5f}' for x in losses)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                                  "train_fixtures"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    for c in CASES:
        make_case(c, a.out)


if __name__ == "__main__":
    main()
