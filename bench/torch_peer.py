#!/usr/bin/python3
# PyTorch speed peer for qwick: a Qwen2 HF checkpoint run in PyTorch eager (bf16 weights and activations by
# default) with a KV cache; measures prefill tok/s, time to first token, decode tok/s and peak RSS.
#
#   torch_peer.py MODEL_DIR [--threads 2] [--prompt-len 512] [--decode 32] [--dtype bf16] [--runs 3] [--json]
#   torch_peer.py MODEL_DIR --verify      # check the fast formulation against scripts/qwen2_ref.py
#   torch_peer.py MODEL_DIR --serve --prompt-lens 128,512 --batches 1,2,4 [--decode 32] [--decode-ctx 32]
#       what `qwick bench --vs torch` runs: loads, warms up, prints {"ready": ...}, then answers each "rep"
#       line on stdin with one JSON line of measurements, so qwick and PyTorch alternate in one run
#
# To be fair to PyTorch this is the fastest honest eager formulation found on torch 1.13 CPU (no
# scaled_dot_product_attention there): F.linear on bf16 weights (oneDNN's bf16 GEMM), q/k/v fused into one
# linear and gate/up into another, a preallocated KV cache, GQA attention without materialising repeated
# kv heads (query heads grouped per kv head in one bmm), softmax in f32 as HF, RoPE tables precomputed,
# lm_head only on the last position during prefill (what HF generate does). Numerics stay those of
# HF bf16 eager up to GEMM blocking.

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import st_io  # noqa: E402
from qwen2_ref import DTYPES, Qwen2Config  # noqa: E402


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CpuMonitor:
    """Share of the machine's CPU time that other processes used between start() and stop(): the peer's
    numbers are only meaningful when this is near 0 (2 cores shared with builds and tests)."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK")
        self.ncpu = os.cpu_count() or 1

    @staticmethod
    def _busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal

    def start(self):
        t = os.times()
        self.b0, self.own0, self.w0 = self._busy(), t.user + t.system, time.perf_counter()

    def stop(self):
        t = os.times()
        busy = (self._busy() - self.b0) / self.hz
        own = t.user + t.system - self.own0
        wall = time.perf_counter() - self.w0
        return max(0.0, (busy - own) / (wall * self.ncpu))


def load_tensors(model_dir, dtype):
    """Reads every tensor straight from the files into torch memory of the compute dtype (no mmap, so the
    RSS is the weights, not weights + page cache). BF16 stays bit-exact; F32/F16 -> bf16 rounds as .to()."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for fn in files:
        path = os.path.join(model_dir, fn)
        hdr, data_start, _ = st_io.read_header(path)
        hdr.pop("__metadata__", None)
        with open(path, "rb", buffering=0) as f:
            for name, info in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                b, e = info["data_offsets"]
                shape = info["shape"]
                st = info["dtype"]
                src = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}[st]
                t = torch.empty(shape, dtype=src)
                buf = t.view(torch.int16) if src == torch.bfloat16 else t
                f.seek(data_start + b)
                mv = memoryview(buf.numpy()).cast("B")
                if f.readinto(mv) != e - b:
                    raise IOError(f"{path}: short read for {name}")
                out[name] = t if src == dtype else t.to(dtype)
    return out


class PeerModel:
    def __init__(self, model_dir, dtype="bf16", max_seq=4096):
        self.cfg = cfg = Qwen2Config.load(model_dir)
        self.dt = DTYPES[dtype]
        self.acc = torch.float64 if self.dt == torch.float64 else torch.float32
        t = load_tensors(model_dir, self.dt)
        nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.layers = []
        for i in range(cfg.num_hidden_layers):
            p = f"model.layers.{i}."
            g = lambda n: t.pop(p + n)  # noqa: E731
            wqkv = torch.cat([g("self_attn.q_proj.weight"), g("self_attn.k_proj.weight"),
                              g("self_attn.v_proj.weight")], 0).contiguous()
            bqkv = torch.cat([g("self_attn.q_proj.bias"), g("self_attn.k_proj.bias"), g("self_attn.v_proj.bias")])
            wgu = torch.cat([g("mlp.gate_proj.weight"), g("mlp.up_proj.weight")], 0).contiguous()
            self.layers.append(dict(
                in_norm=g("input_layernorm.weight"), wqkv=wqkv, bqkv=bqkv, wo=g("self_attn.o_proj.weight"),
                post_norm=g("post_attention_layernorm.weight"), wgu=wgu, wd=g("mlp.down_proj.weight")))
        self.embed = t.pop("model.embed_tokens.weight")
        self.norm = t.pop("model.norm.weight")
        self.lm_head = self.embed if cfg.tie_word_embeddings else t.pop("lm_head.weight")
        t.pop("lm_head.weight", None)
        self.max_seq = max_seq
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).to(self.acc) / hd))
        freqs = torch.arange(max_seq, dtype=self.acc)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), -1)
        self.cos, self.sin = emb.cos().to(self.dt), emb.sin().to(self.dt)
        self.nh, self.nkv, self.hd = nh, nkv, hd
        self.weight_bytes = sum(x.numel() * x.element_size() for L in self.layers for x in L.values()) + \
            self.embed.numel() * self.embed.element_size() + \
            (0 if self.lm_head is self.embed else self.lm_head.numel() * self.lm_head.element_size())
        # bytes a decode step reads: every layer weight, the final norm and lm_head (embedding: one row)
        self.decode_bytes = sum(x.numel() * x.element_size() for L in self.layers for x in L.values()) + \
            self.lm_head.numel() * self.lm_head.element_size()

    def new_cache(self, size):
        shp = (self.nkv, size, self.hd)
        return {"k": [torch.empty(shp, dtype=self.dt) for _ in self.layers],
                "v": [torch.empty(shp, dtype=self.dt) for _ in self.layers], "len": 0}

    def new_cache_batch(self, batch, size):
        shp = (batch, self.nkv, size, self.hd)
        return {"k": [torch.empty(shp, dtype=self.dt) for _ in self.layers],
                "v": [torch.empty(shp, dtype=self.dt) for _ in self.layers], "len": 0}

    def rmsnorm(self, x, w):
        xf = x.to(self.acc)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.cfg.rms_norm_eps)
        return w * xf.to(self.dt)

    @staticmethod
    def rot(x, cos, sin):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), -1) * sin

    @torch.inference_mode()
    def forward(self, tokens, cache, all_logits=False):
        T = tokens.shape[0]
        s0 = cache["len"]
        S = s0 + T
        nh, nkv, hd = self.nh, self.nkv, self.hd
        nrep = nh // nkv
        cos, sin = self.cos[s0:S], self.sin[s0:S]
        mask = None
        if T > 1:
            allowed = torch.arange(S)[None, :] <= torch.arange(s0, S)[:, None]
            mask = torch.zeros(T, S, dtype=self.dt).masked_fill_(~allowed, torch.finfo(self.dt).min)
        scale = hd ** -0.5
        qd, kvd = nh * hd, nkv * hd
        x = F.embedding(tokens, self.embed)
        for li, L in enumerate(self.layers):
            h = self.rmsnorm(x, L["in_norm"])
            qkv = F.linear(h, L["wqkv"], L["bqkv"])
            q = qkv[:, :qd].view(T, nh, hd).transpose(0, 1)
            k = qkv[:, qd:qd + kvd].view(T, nkv, hd).transpose(0, 1)
            v = qkv[:, qd + kvd:].view(T, nkv, hd).transpose(0, 1)
            q = self.rot(q, cos, sin)
            cache["k"][li][:, s0:S] = self.rot(k, cos, sin)
            cache["v"][li][:, s0:S] = v
            # explicit copy to contiguous: torch 1.13's bf16 bmm on a strided cache slice is 3x slower
            K, V = cache["k"][li][:, :S].contiguous(), cache["v"][li][:, :S]
            # query heads of one kv head side by side: (nkv, nrep*T, hd)
            qg = q.reshape(nkv, nrep * T, hd)
            att = torch.matmul(qg, K.transpose(1, 2)) * scale                   # (nkv, nrep*T, S)
            if mask is not None:
                att = (att.view(nkv, nrep, T, S) + mask).view(nkv, nrep * T, S)
            att = F.softmax(att, dim=-1, dtype=self.acc).to(self.dt)
            o = torch.matmul(att, V).view(nh, T, hd).transpose(0, 1).reshape(T, qd)
            x = x + F.linear(o, L["wo"])
            h = self.rmsnorm(x, L["post_norm"])
            gu = F.linear(h, L["wgu"])
            I = gu.shape[-1] // 2
            x = x + F.linear(F.silu(gu[:, :I]) * gu[:, I:], L["wd"])
        cache["len"] = S
        if not all_logits:
            x = x[-1:]
        return F.linear(self.rmsnorm(x, self.norm), self.lm_head)


    @torch.inference_mode()
    def forward_batch(self, tokens, cache):
        """B sequences at the same position side by side (tokens (B, T), a cache from new_cache_batch): the
        same formulation as forward with a leading batch dimension. Returns the last position's logits (B, V)."""
        B, T = tokens.shape
        s0 = cache["len"]
        S = s0 + T
        nh, nkv, hd = self.nh, self.nkv, self.hd
        nrep = nh // nkv
        cos, sin = self.cos[s0:S], self.sin[s0:S]
        mask = None
        if T > 1:
            allowed = torch.arange(S)[None, :] <= torch.arange(s0, S)[:, None]
            mask = torch.zeros(T, S, dtype=self.dt).masked_fill_(~allowed, torch.finfo(self.dt).min)
        scale = hd ** -0.5
        qd, kvd = nh * hd, nkv * hd
        x = F.embedding(tokens, self.embed)                                     # (B, T, hidden)
        for li, L in enumerate(self.layers):
            h = self.rmsnorm(x, L["in_norm"])
            qkv = F.linear(h, L["wqkv"], L["bqkv"])
            q = qkv[..., :qd].view(B, T, nh, hd).transpose(1, 2)
            k = qkv[..., qd:qd + kvd].view(B, T, nkv, hd).transpose(1, 2)
            v = qkv[..., qd + kvd:].view(B, T, nkv, hd).transpose(1, 2)
            q = self.rot(q, cos, sin)
            cache["k"][li][:, :, s0:S] = self.rot(k, cos, sin)
            cache["v"][li][:, :, s0:S] = v
            K, V = cache["k"][li][:, :, :S].contiguous(), cache["v"][li][:, :, :S]
            qg = q.reshape(B, nkv, nrep * T, hd)
            att = torch.matmul(qg, K.transpose(-1, -2)) * scale                 # (B, nkv, nrep*T, S)
            if mask is not None:
                att = (att.view(B, nkv, nrep, T, S) + mask).view(B, nkv, nrep * T, S)
            att = F.softmax(att, dim=-1, dtype=self.acc).to(self.dt)
            o = torch.matmul(att, V).view(B, nh, T, hd).transpose(1, 2).reshape(B, T, qd)
            x = x + F.linear(o, L["wo"])
            h = self.rmsnorm(x, L["post_norm"])
            gu = F.linear(h, L["wgu"])
            I = gu.shape[-1] // 2
            x = x + F.linear(F.silu(gu[..., :I]) * gu[..., I:], L["wd"])
        cache["len"] = S
        return F.linear(self.rmsnorm(x[:, -1], self.norm), self.lm_head)


def verify(model_dir, threads):
    """The fast formulation against the reference (same dtype), on a prompt and a few decode steps."""
    from qwen2_ref import Qwen2Ref, rel_err
    torch.set_num_threads(threads)
    for dt in ("f32", "bf16"):
        ref = Qwen2Ref(model_dir, dt)
        peer = PeerModel(model_dir, dt, max_seq=64)
        V = ref.cfg.vocab_size
        rng = np.random.default_rng(0)
        prompt = rng.integers(0, V, size=9)
        c1, c2 = ref.new_cache(), peer.new_cache(64)
        a = ref.forward(prompt, 0, c1).float().numpy()
        b = peer.forward(torch.as_tensor(prompt), c2, all_logits=True).float().numpy()
        errs = [rel_err(b, a)]
        for _ in range(4):
            tok = int(np.argmax(a[-1]))
            a = ref.forward([tok], c1.length, c1).float().numpy()
            b = peer.forward(torch.tensor([tok]), c2).float().numpy()
            errs.append(rel_err(b, a))
        print(f"verify {dt}: peer vs reference rel err prefill {errs[0]:.2e}, decode max {max(errs[1:]):.2e}")
        # the batched path: two sequences side by side against each run alone
        seqs = torch.as_tensor(rng.integers(0, V, size=(2, 7)))
        cb = peer.new_cache_batch(2, 64)
        lb = peer.forward_batch(seqs, cb)
        nxt = torch.argmax(lb, -1)
        lb2 = peer.forward_batch(nxt[:, None], cb)
        berr = 0.0
        for i in range(2):
            c = peer.new_cache(64)
            l1 = peer.forward(seqs[i], c)[-1]
            l2 = peer.forward(nxt[i:i + 1], c)[-1]
            berr = max(berr, rel_err(lb[i].float().numpy(), l1.float().numpy()),
                       rel_err(lb2[i].float().numpy(), l2.float().numpy()))
        print(f"verify {dt}: batched vs one sequence at a time rel err {berr:.2e}")


def serve(a):
    """One repetition of the whole plan per "rep" line on stdin, answered with one JSON line on stdout."""
    plens = [int(x) for x in a.prompt_lens.split(",")]
    batches = [int(x) for x in a.batches.split(",")]
    torch.set_num_threads(a.threads)
    m = PeerModel(a.model_dir, a.dtype, max_seq=max(max(plens), a.decode_ctx + a.decode) + 1)
    V = m.cfg.vocab_size
    rng = np.random.default_rng(a.seed)

    def one_rep():
        res = {"prefill": [], "decode": []}
        for P in plens:
            cache = m.new_cache(P)
            prompt = torch.as_tensor(rng.integers(0, V, size=P))
            t = time.perf_counter()
            logits = m.forward(prompt, cache)
            tp = time.perf_counter()
            int(torch.argmax(logits[-1]))
            tf = time.perf_counter()
            res["prefill"].append({"prompt_len": P, "tok_s": P / (tp - t), "ttft_s": tf - t})
        for B in batches:
            n = a.decode
            if B == 1:  # the single-sequence path, the formulation tuned for it
                cache = m.new_cache(a.decode_ctx + n)
                tok = int(torch.argmax(m.forward(torch.as_tensor(rng.integers(0, V, size=a.decode_ctx)), cache)[-1]))
                t = time.perf_counter()
                for _ in range(n):
                    tok = int(torch.argmax(m.forward(torch.tensor([tok]), cache)[-1]))
            else:
                cache = m.new_cache_batch(B, a.decode_ctx + n)
                toks = torch.argmax(m.forward_batch(torch.as_tensor(rng.integers(0, V, size=(B, a.decode_ctx))),
                                                    cache), -1)
                t = time.perf_counter()
                for _ in range(n):
                    toks = torch.argmax(m.forward_batch(toks[:, None], cache), -1)
            dt = time.perf_counter() - t
            res["decode"].append({"batch": B, "tok_s": B * n / dt, "tpot_s": dt / n})
        return res

    one_rep()  # warm-up, before qwick starts measuring
    n_params = sum(x.numel() for L in m.layers for x in L.values()) + m.embed.numel() + m.norm.numel() + \
        (0 if m.lm_head is m.embed else m.lm_head.numel())
    print(json.dumps({"ready": True, "peer": "pytorch-eager", "torch": torch.__version__,
                      "version": f"torch {torch.__version__}",
                      "model": os.path.abspath(a.model_dir), "dtype": a.dtype, "threads": a.threads,
                      "model_bytes": m.weight_bytes, "n_params": n_params, "step_bytes": m.decode_bytes}), flush=True)
    mon = CpuMonitor()
    for line in sys.stdin:
        if line.strip() != "rep":
            break
        mon.start()
        res = one_rep()
        res["foreign_cpu_load"] = round(mon.stop(), 3)
        res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser(description="PyTorch eager speed peer for Qwen2 checkpoints")
    ap.add_argument("model_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    ap.add_argument("--runs", type=int, default=3, help="measured runs after one warm-up (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before measuring, wait up to S seconds for 3 s in which other processes use <5%% CPU")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verify", action="store_true", help="check against scripts/qwen2_ref.py and exit")
    ap.add_argument("--serve", action="store_true", help="answer 'rep' lines on stdin (qwick bench --vs torch)")
    ap.add_argument("--prompt-lens", default="512", help="--serve: prompt lengths, comma-separated")
    ap.add_argument("--batches", default="1", help="--serve: sequences decoding together, comma-separated")
    ap.add_argument("--decode-ctx", type=int, default=32, help="--serve: tokens each sequence holds before decoding")
    a = ap.parse_args()
    if a.serve:
        try:
            serve(a)
        except Exception as e:  # noqa: BLE001 -- reported to qwick, which names it in its error
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
            sys.exit(1)
        return
    if a.verify:
        verify(a.model_dir, a.threads)
        return
    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    m = PeerModel(a.model_dir, a.dtype, max_seq=a.prompt_len + a.decode + 1)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    cfg = m.cfg
    prompt = torch.as_tensor(np.random.default_rng(a.seed).integers(0, cfg.vocab_size, size=a.prompt_len))

    prefill_s, ttft_s, decode_runs, foreign = [], [], [], []
    mon = CpuMonitor()
    waited = time.perf_counter()
    while time.perf_counter() - waited < a.wait_quiet:
        mon.start()
        time.sleep(3)
        if mon.stop() < 0.05:
            break
    waited = time.perf_counter() - waited
    for run in range(a.runs + 1):           # run 0 is the warm-up
        mon.start()
        cache = m.new_cache(a.prompt_len + a.decode + 1)
        t = time.perf_counter()
        logits = m.forward(prompt, cache)
        tp = time.perf_counter()
        tok = int(torch.argmax(logits[-1]))
        tf = time.perf_counter()
        steps = []
        for _ in range(a.decode):
            ts = time.perf_counter()
            logits = m.forward(torch.tensor([tok]), cache)
            tok = int(torch.argmax(logits[-1]))
            steps.append(time.perf_counter() - ts)
        if run > 0:
            foreign.append(mon.stop())
            prefill_s.append(tp - t)
            ttft_s.append(tf - t)
            decode_runs.append(steps)
        if run >= 1 and sum(prefill_s) + sum(sum(r) for r in decode_runs) > 120:
            break                           # big models: fewer measured runs once two minutes are spent
    pre_med = statistics.median(prefill_s)
    ttft_med = statistics.median(ttft_s)
    dec_tok_s = statistics.median([len(r) / sum(r) for r in decode_runs]) if a.decode else 0.0
    dec_best = max(len(r) / sum(r) for r in decode_runs) if a.decode else 0.0
    dec_step_ms = statistics.median([x for r in decode_runs for x in r]) * 1e3 if a.decode else 0.0
    res = {
        "peer": "pytorch-eager",
        "torch": torch.__version__,
        "model": os.path.abspath(a.model_dir),
        "dtype": a.dtype,
        "threads": a.threads,
        "shape": {"hidden": cfg.hidden_size, "layers": cfg.num_hidden_layers, "heads": cfg.num_attention_heads,
                  "kv_heads": cfg.num_key_value_heads, "head_dim": cfg.head_dim,
                  "intermediate": cfg.intermediate_size, "vocab": cfg.vocab_size,
                  "tied": cfg.tie_word_embeddings},
        "weights_GB": round(m.weight_bytes / 1e9, 3),
        "prompt_len": a.prompt_len,
        "decode_steps": a.decode,
        "runs": len(prefill_s),
        "load_s": round(load_s, 2),
        "prefill_tok_s": round(a.prompt_len / pre_med, 2),
        "prefill_s": round(pre_med, 3),
        "ttft_s": round(ttft_med, 3),
        "decode_tok_s": round(dec_tok_s, 3),
        "decode_step_ms": round(dec_step_ms, 1),
        "prefill_tok_s_best": round(a.prompt_len / min(prefill_s), 2),
        "decode_tok_s_best": round(dec_best, 3),
        "foreign_cpu_load": round(statistics.median(foreign), 3),
        "waited_for_quiet_s": round(waited, 1),
        "decode_GB_s": round(m.decode_bytes * dec_tok_s / 1e9, 2),
        "rss_after_load_MB": round(rss_loaded),
        "peak_rss_MB": round(peak_rss_mb()),
    }
    if a.json:
        print(json.dumps(res))
        return
    print(f"PyTorch {torch.__version__} eager {a.dtype}, {a.threads} threads: {a.model_dir}")
    print(f"  shape: hidden {cfg.hidden_size}, {cfg.num_hidden_layers} layers, {cfg.num_attention_heads}/"
          f"{cfg.num_key_value_heads} heads, inter {cfg.intermediate_size}, vocab {cfg.vocab_size}; "
          f"weights {res['weights_GB']} GB, loaded in {res['load_s']} s")
    rows = [("prefill", f"{res['prefill_tok_s']:.1f} tok/s", f"{a.prompt_len} tokens in {pre_med:.2f} s "
             f"(median of {len(prefill_s)})"),
            ("time to first token", f"{ttft_med:.2f} s", "prefill + argmax of the last logits"),
            ("decode", f"{dec_tok_s:.2f} tok/s", f"{a.decode} steps, {dec_step_ms:.0f} ms/step, "
             f"{res['decode_GB_s']} GB/s of weights"),
            ("peak RSS", f"{res['peak_rss_MB']} MB", f"{res['rss_after_load_MB']} MB after load"),
            ("best run", f"{res['prefill_tok_s_best']:.1f} / {dec_best:.2f}", "prefill / decode tok/s"),
            ("other load on CPUs", f"{100 * res['foreign_cpu_load']:.0f} %",
             "CPU used by other processes while measuring" +
             ("  ** contended: numbers are low **" if res["foreign_cpu_load"] > 0.1 else ""))]
    for k, v, note in rows:
        print(f"  {k:20s} {v:>14s}   {note}")


if __name__ == "__main__":
    main()
