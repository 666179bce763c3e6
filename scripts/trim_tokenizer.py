#!/usr/bin/env python3
# scripts/trim_tokenizer.py: Qwen's tokenizer with its vocabulary cut to the tokens qwick's shipped model
# needs, so that its embedding has 8,192 rows instead of 151,936; a valid HF tokenizer.json plus config.
#
# Usage: python3 scripts/trim_tokenizer.py [--vocab 8192] [--qwick build/qwick] [--out models/qwick-debian]
# Needs data/corpus/train.txt (scripts/make_corpus.sh) and data/sections/train.jsonl. Stdlib only; token
# counts come from `qwick tokenize` with the full tokenizer (models/tokenizer.json).
#
# What is kept: the 256 byte tokens (so every string still encodes), the special tokens <|endoftext|>,
# <|im_start|>, <|im_end|>, and the BPE tokens most frequent in the pre-training corpus and the task's
# train split rendered as ChatML, each with every token of the merges that build it (so the kept merges
# can still reach it). Merges are those whose two parts and result are all kept, in their original order;
# pre-tokenizer, normalizer and decoder are the original ones. Ids are dense: BPE tokens in their
# original order, then the special tokens. Text encodes to the same tokens as with the full tokenizer
# except where a dropped token is now split into kept ones.
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def tokenize(qwick, tok, path):
    r = subprocess.run([qwick, "tokenize", tok, "-f", path], check=True, stdout=subprocess.PIPE)
    return [int(x) for x in r.stdout.split()]


def chatml(prompt, answer):
    return ("<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n%s<|im_end|>\n"
            % (SYSTEM, prompt, answer))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=8192, help="rows of the embedding (BPE + special), a multiple of 256")
    ap.add_argument("--qwick", default=os.path.join(REPO, "build", "qwick"))
    ap.add_argument("--full", default=os.path.join(REPO, "models"))
    ap.add_argument("--out", default=os.path.join(REPO, "models", "qwick-debian"))
    a = ap.parse_args()
    assert a.vocab % 256 == 0, "--vocab must be a multiple of 256"

    full = json.load(open(os.path.join(a.full, "tokenizer.json"), encoding="utf-8"))
    cfg = json.load(open(os.path.join(a.full, "tokenizer_config.json"), encoding="utf-8"))
    vocab, merges = full["model"]["vocab"], full["model"]["merges"]
    merges = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
    inv = {i: s for s, i in vocab.items()}
    parts = {l + r: (l, r) for l, r in merges}
    added = {t["content"]: t for t in full["added_tokens"]}

    corpus = os.path.join(REPO, "data", "corpus", "train.txt")
    task = os.path.join(REPO, "data", "sections", "train.jsonl")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as f:
        for line in open(task, encoding="utf-8"):
            it = json.loads(line)
            f.write(chatml(it["prompt"], it["answer"]))
        task_txt = f.name
    counts = collections.Counter()
    n_chars = 0
    try:
        for path in (corpus, task_txt):
            ids = tokenize(a.qwick, a.full, path)
            counts.update(ids)
            n_chars += len(open(path, encoding="utf-8").read())
    finally:
        os.unlink(task_txt)

    # bytes first, then the most frequent tokens with their merge ancestry, while they fit
    budget = a.vocab - len(SPECIALS)
    keep = {s for s in vocab if len(s) == 1}
    assert len(keep) == 256

    def closure(s, acc):
        if s in keep or s in acc:
            return
        l, r = parts[s]
        closure(l, acc)
        closure(r, acc)
        acc.add(s)

    for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        s = inv.get(i)
        if s is None or s in keep:  # special tokens are added below
            continue
        acc = set()
        closure(s, acc)
        if len(keep) + len(acc) <= budget:
            keep |= acc
        if len(keep) == budget:
            break
    if len(keep) < budget:  # the corpus uses fewer tokens than asked: fill with the earliest merges
        for l, r in merges:
            if len(keep) == budget:
                break
            if l in keep and r in keep:
                keep.add(l + r)

    kept = sorted(keep, key=lambda s: vocab[s])
    new_vocab = {s: i for i, s in enumerate(kept)}
    new_merges = [[l, r] for l, r in merges if l in keep and r in keep and l + r in keep]
    new_added = []
    for j, c in enumerate(SPECIALS):
        t = dict(added[c])
        t["id"] = len(kept) + j
        new_added.append(t)

    out = dict(full)
    out["added_tokens"] = new_added
    out["model"] = dict(full["model"], vocab=new_vocab, merges=new_merges)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=None, separators=(",", ":"))
    tcfg = dict(cfg)
    tcfg["added_tokens_decoder"] = {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip",
                                                                    "single_word", "special")} for t in new_added}
    tcfg["additional_special_tokens"] = [c for c in cfg.get("additional_special_tokens", []) if c in SPECIALS]
    tcfg["model_max_length"] = cfg.get("model_max_length")
    with open(os.path.join(a.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tcfg, f, ensure_ascii=False, indent=2)
        f.write("\n")

    # report: how much of the corpus the kept tokens cover, and what the cut costs in tokens
    total = sum(counts.values())
    dropped = sum(c for i, c in counts.items() if i in inv and inv[i] not in keep)
    n_full = total
    n_trim = 0
    for path in (corpus,):
        n_trim += len(tokenize(a.qwick, a.out, path))
    n_full_corpus = len(tokenize(a.qwick, a.full, corpus))
    corpus_chars = len(open(corpus, encoding="utf-8").read())
    print("vocab: %d BPE tokens (%d merges) + %d special = %d rows" % (len(kept), len(new_merges), len(SPECIALS), a.vocab))
    print("distinct tokens the full tokenizer uses on corpus+task: %d" % len(counts))
    print("full-tokenizer tokens (corpus+task, %d chars) whose token was dropped: %.2f%% of %d" % (n_chars, 100.0 * dropped / n_full, n_full))
    print("corpus train.txt: %d chars; full tokenizer %d tokens (%.3f tok/char), trimmed %d tokens (%.3f tok/char, +%.1f%%)"
          % (corpus_chars, n_full_corpus, n_full_corpus / corpus_chars, n_trim, n_trim / corpus_chars,
             100.0 * (n_trim - n_full_corpus) / n_full_corpus))


if __name__ == "__main__":
    main()
