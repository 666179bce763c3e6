#!/usr/bin/python3
# PyTorch eager peer for bench/train_bench.c: trains the same Qwen2 shape (f32, tied embeddings, GQA, q/k/v
# biases, RoPE, SwiGLU, RMSNorm) on random tokens with AdamW and clipping, as HF's eager Qwen2 computes it
# (repeat_kv for GQA, softmax over masked scores), and prints tokens per second as one JSON line.
#   train_torch_peer.py [--hidden 384] [--layers 6] [--heads 6] [--kv-heads 2] [--ff 1024] [--vocab 16384]
#                       [--ctx 256] [--batch 4] [--steps 5] [--threads 2]
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(hidden=384, layers=6, heads=6, kv_heads=2, ff=1024, vocab=16384, ctx=256, batch=4, steps=5,
                     threads=2).items():
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    H, L, nh, nkv, I, V, T, B = a.hidden, a.layers, a.heads, a.kv_heads, a.ff, a.vocab, a.ctx, a.batch
    hd = H // nh

    def p(*shape, std=0.02):
        return torch.nn.Parameter(torch.randn(*shape) * std)

    P = {"embed": p(V, H), "norm": torch.nn.Parameter(torch.ones(H))}
    for i in range(L):
        P.update({f"{i}.ln1": torch.nn.Parameter(torch.ones(H)), f"{i}.wq": p(nh * hd, H), f"{i}.bq": p(nh * hd),
                  f"{i}.wk": p(nkv * hd, H), f"{i}.bk": p(nkv * hd), f"{i}.wv": p(nkv * hd, H), f"{i}.bv": p(nkv * hd),
                  f"{i}.wo": p(H, nh * hd), f"{i}.ln2": torch.nn.Parameter(torch.ones(H)), f"{i}.wg": p(I, H),
                  f"{i}.wu": p(I, H), f"{i}.wd": p(H, I)})
    inv = 1.0 / (1e6 ** (torch.arange(0, hd, 2).float() / hd))
    fr = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat((fr, fr), -1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.full((T, T), float("-inf")).triu(1)

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def rot(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), -1)

    def loss_fn(tok, tgt):
        x = F.embedding(tok, P["embed"])
        for i in range(L):
            h = rms(x, P[f"{i}.ln1"])
            q = F.linear(h, P[f"{i}.wq"], P[f"{i}.bq"]).view(B, T, nh, hd).transpose(1, 2)
            k = F.linear(h, P[f"{i}.wk"], P[f"{i}.bk"]).view(B, T, nkv, hd).transpose(1, 2)
            v = F.linear(h, P[f"{i}.wv"], P[f"{i}.bv"]).view(B, T, nkv, hd).transpose(1, 2)
            q = q * cos + rot(q) * sin
            k = k * cos + rot(k) * sin
            k = k.repeat_interleave(nh // nkv, 1)
            v = v.repeat_interleave(nh // nkv, 1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + causal, -1)
            x = x + F.linear((att @ v).transpose(1, 2).reshape(B, T, H), P[f"{i}.wo"])
            h = rms(x, P[f"{i}.ln2"])
            x = x + F.linear(F.silu(F.linear(h, P[f"{i}.wg"])) * F.linear(h, P[f"{i}.wu"]), P[f"{i}.wd"])
        logits = F.linear(rms(x, P["norm"]), P["embed"])
        return F.cross_entropy(logits.view(-1, V), tgt.view(-1))

    params = list(P.values())
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    tok = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    for s in range(a.steps + 1):
        if s == 1:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(tok, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    el = time.perf_counter() - t0
    print(json.dumps({"engine": "pytorch-eager", "torch": torch.__version__, "threads": a.threads,
                      "params": sum(x.numel() for x in params), "tok_s": round(B * T * a.steps / el, 1),
                      "step_s": round(el / a.steps, 4), "loss": round(float(loss), 4)}))


if __name__ == "__main__":
    main()
