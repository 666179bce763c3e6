#!/usr/bin/env bash
# bench/train_bench: training throughput (tokens/s of forward + backward + AdamW, f32) of qwick's engine
# (bench/train_bench.c) against PyTorch eager training the same architecture (bench/train_torch_peer.py),
# same shape, same thread count, alternating run by run; prints a Markdown section for bench/RESULTS.md.
# Usage: bench/train_bench.sh [THREADS]   env: REPS=2 STEPS=5 SHAPE="--hidden 384 --layers 6 ..."
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
reps=${REPS:-2}
steps=${STEPS:-5}
shape=${SHAPE:---hidden 384 --layers 6 --heads 6 --kv-heads 2 --ff 1024 --vocab 16384 --ctx 256 --batch 4}
[ -x build/train_bench ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null && cmake --build build -j2 > /dev/null; }
bash scripts/install_torch.sh > /dev/null
load0=$(cut -d' ' -f1-3 /proc/loadavg)
q=() t=()
for r in $(seq 1 "$reps"); do
    # shellcheck disable=SC2086
    q+=("$(build/train_bench $shape --steps "$steps" --threads "$threads")")
    # shellcheck disable=SC2086
    t+=("$(/usr/bin/python3 bench/train_torch_peer.py $shape --steps "$steps" --threads "$threads")")
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$threads" "$shape" "$steps" "$load0" "$load1" "$(git rev-parse --short HEAD)" "${#q[@]}" "${q[@]}" "${t[@]}" <<'PY'
import json, re, statistics, sys, datetime
threads, shape, steps, l0, l1, rev, n = sys.argv[1:8]
n = int(n)
q = [json.loads(x) for x in sys.argv[8:8 + n]]
t = [json.loads(x) for x in sys.argv[8 + n:8 + 2 * n]]
cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
qm = statistics.median(x["tok_s"] for x in q)
tm = statistics.median(x["tok_s"] for x in t)
print(f"### Training throughput, {datetime.date.today()} (commit {rev})\n")
print(f"`bench/train_bench.sh {threads}` (shape `{shape}`, {steps} timed steps after one warm-up, {n} alternating runs each); "
      f"CPU {cpu}, {threads} threads; load average {l0} before, {l1} after.\n")
print("| engine | tok/s (median) | runs | s/step | params |")
print("|---|---|---|---|---|")
qr = ", ".join("%.0f" % x["tok_s"] for x in q)
tr = ", ".join("%.0f" % x["tok_s"] for x in t)
qs = statistics.median(x["step_s"] for x in q)
ts = statistics.median(x["step_s"] for x in t)
last = q[-1]
print(f"| qwick ({q[0]['gemm']} GEMM, f32) | {qm:.0f} | {qr} | {qs:.2f} (fwd {last['forward_s']:.2f}, "
      f"bwd {last['backward_s']:.2f}, AdamW {last['optimizer_s']:.2f}) | {q[0]['params']:,} |")
print(f"| PyTorch {t[0]['torch']} eager, f32 | {tm:.0f} | {tr} | {ts:.2f} | {t[0]['params']:,} |")
print(f"\nqwick / PyTorch: **{qm / tm:.2f}x**")
PY
