#!/usr/bin/env python3
"""bench/quant_table.py WORKDIR [MODEL]: the markdown table of bench/quant_table.sh from its ppl-*/task-*.json:
one row per quantized file (qwick's and llama.cpp's), against the float model's row."""
import glob
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def fmt_ci(t):
    lo, hi = t["acc_ci"]
    return "%.1f%% [%.1f, %.1f]" % (100 * t["acc"], 100 * lo, 100 * hi)


def main():
    work = sys.argv[1]
    def both(name):  # the ppl/KLD run and the task run of one file, as one record
        e = load(os.path.join(work, "ppl-%s.json" % name))
        e["tasks"] = load(os.path.join(work, "task-%s.json" % name)).get("tasks", [])
        return e
    base = both("float")
    rows = []
    for p in sorted(glob.glob(os.path.join(work, "ppl-*.json"))):
        name = os.path.basename(p)[4:-5]
        if name == "float":
            continue
        rows.append((name, both(name)))
    # llama.cpp rows first, then qwick's by type and method
    rows.sort(key=lambda r: (not r[0].startswith("llama.cpp"), r[0]))
    t0 = base["tasks"][0] if base.get("tasks") else None
    print("| file | bits/weight | PPL | KLD mean | KLD p99 | top-1 agree | task acc | vs float (paired) |")
    print("|---|---|---|---|---|---|---|---|")
    print("| float (%s) | %.2f | %.2f | | | | %s | |" % (os.path.basename(base["model"].rstrip("/")), base["bpw"],
                                                       base["ppl"]["ppl"], fmt_ci(t0) if t0 else ""))
    for name, e in rows:
        r = e.get("ref", {})
        t = e["tasks"][0] if e.get("tasks") else None
        paired = ""
        if t and "paired" in t:
            pd = t["paired"]
            paired = "%+.1f pt, p = %.2f" % (100 * pd["diff"], pd["p_value"])
        print("| %s | %.2f | %.2f | %.4f | %.3f | %.1f%% | %s | %s |" % (
            name, e["bpw"], e["ppl"]["ppl"], r.get("kld_mean", float("nan")), r.get("kld_p99", float("nan")),
            100 * r.get("top1_agree", float("nan")), fmt_ci(t) if t else "", paired))


if __name__ == "__main__":
    main()
