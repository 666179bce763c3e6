#!/usr/bin/env bash
# Installs what qwick needs to build and test on Debian 12 (skips what is already there).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libpcre2-dev libcjson-dev libutf8proc-dev libopenblas-dev clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" > /dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "qwick: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi
