# tests/lib_cli.sh: how every tests/cli_*.sh begins, sourced with the build directory as its argument:
# q (the qwick binary), tmp (a scratch folder, removed on exit), and check NAME STATUS, which prints one
# ok/FAIL line and counts checks and failures (each script ends by printing them and exiting with fails).
set -u
q="$1/qwick"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0; checks=0
check() { # check NAME STATUS
    checks=$((checks + 1))
    if [ "$2" -ne 0 ]; then echo "FAIL $1"; fails=$((fails + 1)); else echo "ok   $1"; fi
}
