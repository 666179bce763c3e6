#!/bin/sh
# Installs what scripts/qwen2_ref.py, scripts/make_fixtures.py and bench/torch_peer.py need: Debian 12's
# PyTorch (CPU), NumPy and the pthread OpenBLAS, for /usr/bin/python3. Skips when they are already there.
set -eu

# Debian 12 (bookworm) versions these scripts were written and checked with.
TORCH_VER="1.13.1+dfsg-4"
NUMPY_VER="1:1.24.2-1+deb12u1"

if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null && dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
    /usr/bin/python3 -c 'import torch, numpy; print("present: torch", torch.__version__, "numpy", numpy.__version__)'
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
pin() {  # the pinned version when the archive still has it, otherwise the archive's
    if apt-cache madison "$1" 2>/dev/null | grep -q " $2 "; then echo "$1=$2"; else echo "$1"; fi
}
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "$(pin python3-torch "$TORCH_VER")" "$(pin python3-numpy "$NUMPY_VER")" libopenblas0-pthread
/usr/bin/python3 -c 'import torch, numpy; print("installed: torch", torch.__version__, "numpy", numpy.__version__)'
