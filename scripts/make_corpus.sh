#!/usr/bin/env bash
# scripts/make_corpus.sh: regenerates the pre-training text of qwick's shipped model (data/corpus/train.txt,
# gitignored) and its validation text (data/corpus_val.txt, committed) from pinned Debian packages.
# Needs data/sections/*.jsonl (committed; scripts/make_sections_data.py) so the task's held-out items stay out.
# Usage: bash scripts/make_corpus.sh        (as root, or with the tools below already installed)
set -euo pipefail
cd "$(dirname "$0")/.."

# The text comes from these debs, pinned to their bookworm release versions, whatever is installed here.
DEBS="manpages=6.03-2 manpages-dev=6.03-2 manpages-zh=1.6.4.0-1 fortunes-zh=2.98 debian-faq=11.1
      doc-debian=11.3+nmu1 debian-policy=4.6.2.0"
# Tools: man-db and groff-base render the man pages, bsdextrautils has col.
need=""
command -v man >/dev/null || need="$need man-db"
command -v groff >/dev/null || need="$need groff-base"
command -v col >/dev/null || need="$need bsdextrautils"
# Long descriptions live in the Translation-* lists, which Debian's Docker images do not fetch.
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
printf '#clear Acquire::Languages;\nAcquire::Languages { "en"; "zh_CN"; };\n' > "$conf"
if ! ls /var/lib/apt/lists/*_i18n_Translation-en* >/dev/null 2>&1 || [ -n "$need" ]; then
    apt-get -c "$conf" update
fi
[ -z "$need" ] || apt-get install -y --no-install-recommends $need

work=build-corpus
rm -rf "$work" && mkdir -p "$work/debs" "$work/root"
(cd "$work/debs" && apt-get download $DEBS)
for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$work/root"; done
start=$(date +%s)
python3 scripts/make_corpus.py "$work/root"
echo "make_corpus: $(( $(date +%s) - start )) s; data/corpus/train.txt and data/corpus_val.txt written"
