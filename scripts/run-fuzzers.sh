#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each over its seed corpus (fuzz/corpus/<name>/,
# copied to a scratch folder so new inputs do not pile up in the repo). Fails if any target crashes.
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-30}
status=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    work=$(mktemp -d)
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
    echo "fuzz: $name for ${secs}s"
    if ! "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 "$work" \
        > "$work.log" 2>&1; then
        echo "fuzz: $name FAILED"; tail -40 "$work.log"; status=1
    else
        grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -2
    fi
    rm -rf "$work" "$work.log"
done
exit $status
