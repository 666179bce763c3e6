#!/usr/bin/env bash
# bench/quantize_methods.sh [QWICK] [MODEL]: KLD and top-1 agreement of RTN, GPTQ and AWQ at q4_0, q4_k and
# q8_0 against the float model on held-out calibration text (models/calib.txt's tail). Without MODEL, a
# random-weight model with K-quant-sized rows (hidden 512, FFN 1536, 4 layers, 8 heads / 2 KV heads) is made.
set -eu
q="${1:-build/qwick}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model="${2:-}"
if [ -z "$model" ]; then
    model="$tmp/small"
    "$q" init --shape custom --hidden 512 --ff 1536 --layers 4 --heads 8 --kv-heads 2 -o "$model" 2> /dev/null
fi
opts="--calib-samples ${SAMPLES:-32} --calib-len ${LEN:-128} --eval --eval-samples ${EVAL:-8} -q"
printf '| type | method | KLD mean | KLD p99 | top-1 agreement | time |\n|---|---|---|---|---|---|\n'
for t in q4_0 q4_k q8_0; do
    for m in rtn gptq awq awq+gptq; do
        t0=$(date +%s.%N)
        out=$("$q" quantize "$model" --type $t --method $m $opts -o "$tmp/o.gguf" 2>&1 | grep "KLD mean")
        t1=$(date +%s.%N)
        kld=$(echo "$out" | sed -E 's/.*KLD mean ([0-9.e-]+).*/\1/')
        p99=$(echo "$out" | sed -E 's/.*p99 ([0-9.e-]+).*/\1/')
        top=$(echo "$out" | sed -E 's/.*top-1 agreement ([0-9.]+%).*/\1/')
        printf '| %s | %s | %s | %s | %s | %.0f s |\n' $t $m "$kld" "$p99" "$top" "$(echo "$t1 - $t0" | bc)"
    done
done
