#!/usr/bin/env bash
# scripts/report_screenshot: renders a qwick report in Debian's headless Chromium and saves a PNG, to see
# that it draws (tables, inline SVG) with no network. Not part of CI: Chromium is too heavy for it.
# Usage: scripts/report_screenshot.sh [REPORT.html] [OUT.png] [WIDTHxHEIGHT]
#   with no REPORT, builds the sample report from tests/data/report/ first (needs build/qwick).
# Installs chromium with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
html=${1:-}
out=${2:-report.png}
size=${3:-1280x2600}
if [ -z "$html" ]; then
    d=tests/data/report
    html=$(mktemp --suffix=.html)
    build/qwick report --eval $d/eval_base.json --eval $d/eval_q8.json --eval $d/eval_q4.json \
        --bench $d/bench_base_vs_torch.json --bench $d/bench_q8_vs_q4.json --title "qwick report (sample data)" \
        -o "$html"
fi
if ! command -v chromium > /dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium > /dev/null
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# every switch that would reach the network or need a display is off
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
    --screenshot="$(realpath -m "$out")" --window-size="${size/x/,}" "file://$(realpath "$html")" 2> /dev/null
[ -s "$out" ] && echo "wrote $out from $html"
