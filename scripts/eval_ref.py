#!/usr/bin/python3
# Multiple-choice log-likelihoods from the plain-PyTorch Qwen2 reference (qwen2_ref.py), for checking
# qwick eval's scoring: each choice's tokens are scored after the prompt as lm-evaluation-harness does.
#
# Usage: eval_ref.py MODEL_DIR TASK.jsonl --qwick BUILD/qwick --out EXPECTED.json
# For every item and choice, in both prompt modes (ChatML as Qwen2.5-Instruct renders it, and --raw):
#   context = the rendered prompt (raw: with trailing whitespace moved onto the choice, as the harness does)
#   ids(context) and ids(context + choice) come from `qwick tokenize` (checked against HF's tokenizer by
#   qwick's own tokenizer tests); the continuation is ids(whole)[len(ids(context)):];
#   ll = sum of log_softmax(logits)[token] over the continuation, forward in float32 (bf16 weights widened
#   exactly), log-softmax in float64.
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen2_ref import Qwen2Ref  # noqa: E402

DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def chatml(item):
    msgs = item.get("messages") or [{"role": "user", "content": item["prompt"]}]
    if msgs[0]["role"] != "system":
        msgs = [{"role": "system", "content": DEFAULT_SYSTEM}] + msgs
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs)
    return text + "<|im_start|>assistant\n"


def tokenize(qwick, model, text):
    out = subprocess.run([qwick, "tokenize", model, "--", text], check=True, capture_output=True, text=True)
    return [int(t) for t in out.stdout.split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("task")
    ap.add_argument("--qwick", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ref = Qwen2Ref(a.model_dir, "f32")
    items = []
    with open(a.task, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                items.append((line_no, json.loads(line)))
    result = {"generated_by": "scripts/eval_ref.py MODEL tests/data/eval_mc.jsonl --qwick build/qwick "
                              "--out tests/data/eval_mc_expected.json",
              "model": "qwick init --shape tiny --seed 1 (bf16 weights; forward in float32)",
              "task": os.path.basename(a.task), "modes": {}}
    for mode in ("chat", "raw"):
        rows = []
        for line_no, it in items:
            if mode == "raw" and "prompt" not in it:
                continue
            context = chatml(it) if mode == "chat" else it["prompt"]
            lls, ntoks = [], []
            for choice in it["choices"]:
                ctx, cont = context, choice
                if mode == "raw":
                    stripped = ctx.rstrip()
                    cont = ctx[len(stripped):] + cont
                    ctx = stripped
                ctx_ids = tokenize(a.qwick, a.model_dir, ctx)
                whole = tokenize(a.qwick, a.model_dir, ctx + cont)
                cont_ids = whole[len(ctx_ids):]
                seq = ctx_ids + cont_ids
                logits = ref.forward(seq, 0, ref.new_cache()).to(torch.float64)
                logp = torch.log_softmax(logits, dim=-1).numpy()
                n = len(ctx_ids)
                ll = float(sum(logp[n - 1 + k, t] for k, t in enumerate(cont_ids)))
                lls.append(ll)
                ntoks.append(len(cont_ids))
            rows.append({"line": line_no, "label": it["label"], "ll": lls, "n_tokens": ntoks,
                         "acc": int(np.argmax(lls)) == it["label"],
                         "acc_norm": int(np.argmax([l / len(c.encode()) for l, c in zip(lls, it["choices"])]))
                         == it["label"]})
        result["modes"][mode] = rows
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
