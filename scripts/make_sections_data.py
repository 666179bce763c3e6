#!/usr/bin/env python3
# scripts/make_sections_data.py: the task qwick's shipped model is fine-tuned on: a Debian package's
# description -> its archive Section, as chat prompt/answer JSONL, made once from the apt lists and committed.
#
# Usage: apt-get -c <(printf '#clear Acquire::Languages;\nAcquire::Languages { "en"; "zh_CN"; };\n') update
#        python3 scripts/make_sections_data.py [OUTDIR]      (default data/sections)
# Writes train.jsonl, val.jsonl, test.jsonl (generative: prompt, answer) and val_mc.jsonl, test_mc.jsonl
# (multiple choice: prompt, choices, label), every item also carrying "package" and "source" so that the
# pre-training corpus can leave the held-out packages out. Prints counts and the majority-class baseline.
import collections
import json
import os
import random
import re
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import debian_lists  # noqa: E402

SEED = 20250520  # the date of the Debian snapshot the lists came from
# The 16 sections kept: the brief's topical ones plus libdevel and graphics. Language-ecosystem
# sections (haskell, rust, golang, javascript, java, ruby, gnu-r) are left out: their names give them
# away (librust-*, golang-*, node-*) and they would crowd the topical classes out.
SECTIONS = ["admin", "devel", "doc", "games", "graphics", "libdevel", "libs", "net", "perl", "python",
            "science", "sound", "text", "utils", "web", "x11"]
PER_CLASS = 2000   # at most this many items of one section (libs alone has 6,700 packages)
PER_SOURCE = 3     # at most this many binary packages of one source package (lib, -dev, -bin siblings)
N_TEST, N_VAL, N_TRAIN_MAX = 1000, 1000, 20000
LONG_CHARS = 300   # the long description is cut at a word boundary after about this many characters

INSTRUCTION = ("Which Debian section does this package belong to? Answer with one word: "
               + ", ".join(SECTIONS[:-1]) + " or " + SECTIONS[-1] + ".")


def name_rule(name):
    """The section guessed from the package name alone: what a model gets without reading the text."""
    if name.endswith("-perl"):
        return "perl"
    if name.startswith(("python3-", "python-")):
        return "python"
    if name.endswith("-dev"):
        return "libdevel"
    if name.endswith("-doc") or "-doc-" in name:
        return "doc"
    return "libs" if name.startswith("lib") else "utils"


def cut(text, n):
    if len(text) <= n:
        return text
    i = text.rfind(" ", 0, n)
    return text[: i if i > n // 2 else n].rstrip(" ,;:") + " ..."


def norm(s):
    return re.sub(r"\s+", " ", s.lower()).strip()


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "sections")
    pk = debian_lists.packages()
    tr = debian_lists.translations("en")
    if not tr:
        sys.exit("make_sections_data: no Translation-en lists under /var/lib/apt/lists (see Usage)")
    n_all = len(pk)

    items, dropped = [], collections.Counter()
    for name in sorted(pk):
        p = pk[name]
        if p["section"] not in SECTIONS:
            dropped["other section"] += 1
            continue
        if re.search(r"-(dbg|dbgsym)$", name):
            dropped["debug symbols"] += 1
            continue
        if p["md5"] not in tr:
            dropped["no English description"] += 1
            continue
        short, lines = tr[p["md5"]]
        items.append(dict(package=name, source=p["source"], section=p["section"], short=short,
                          long=debian_lists.long_text(lines)))

    # Identical descriptions (transitional libfoo1/libfoo2, boilerplate doc packages): one is kept when
    # they agree on the section, none when they do not (the text cannot decide it).
    by_text = collections.defaultdict(list)
    for it in items:
        by_text[norm(it["short"] + " " + cut(it["long"], LONG_CHARS))].append(it)
    kept = []
    for group in by_text.values():
        if len({it["section"] for it in group}) > 1:
            dropped["same text, different sections"] += len(group)
        else:
            kept.append(group[0])
            dropped["duplicate text"] += len(group) - 1
    rng = random.Random(SEED)
    kept.sort(key=lambda it: it["package"])

    by_src = collections.defaultdict(list)
    for it in kept:
        by_src[it["source"]].append(it)
    kept = []
    for src in sorted(by_src):
        g = by_src[src]
        rng.shuffle(g)
        kept += g[:PER_SOURCE]
        dropped["more than %d per source" % PER_SOURCE] += max(0, len(g) - PER_SOURCE)

    by_sec = collections.defaultdict(list)
    for it in sorted(kept, key=lambda it: it["package"]):
        by_sec[it["section"]].append(it)
    kept = []
    for sec in SECTIONS:
        g = by_sec[sec]
        rng.shuffle(g)
        kept += g[:PER_CLASS]
        dropped["more than %d per section" % PER_CLASS] += max(0, len(g) - PER_CLASS)

    # Split by source package, so that siblings (foo, foo-data) never sit on both sides of a split.
    by_src = collections.defaultdict(list)
    for it in sorted(kept, key=lambda it: it["package"]):
        by_src[it["source"]].append(it)
    srcs = sorted(by_src)
    rng.shuffle(srcs)
    splits = {"test": [], "val": [], "train": []}
    for src in srcs:
        name = "test" if len(splits["test"]) < N_TEST else "val" if len(splits["val"]) < N_VAL else "train"
        splits[name] += by_src[src]
    # the last source put in test or val may overshoot: its extra items are left out, not moved
    for name, n in (("test", N_TEST), ("val", N_VAL)):
        dropped["split boundary"] += len(splits[name]) - n
        splits[name] = splits[name][:n]
    rng.shuffle(splits["train"])
    dropped["train cap"] += max(0, len(splits["train"]) - N_TRAIN_MAX)
    splits["train"] = splits["train"][:N_TRAIN_MAX]

    os.makedirs(outdir, exist_ok=True)

    def prompt(it):
        text = "Package: %s\nDescription: %s" % (it["package"], it["short"])
        if it["long"]:
            text += "\n" + cut(it["long"], LONG_CHARS)
        # NFC, as the tokenizer normalises, so that decode(encode(prompt)) gives the prompt back
        return unicodedata.normalize("NFC", INSTRUCTION + "\n\n" + text)

    def write(path, rows):
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    for name, rows in splits.items():
        write(os.path.join(outdir, name + ".jsonl"),
              [dict(prompt=prompt(it), answer=it["section"], package=it["package"], source=it["source"]) for it in rows])
        if name != "train":
            write(os.path.join(outdir, name + "_mc.jsonl"),
                  [dict(prompt=prompt(it), choices=SECTIONS, label=SECTIONS.index(it["section"]),
                        package=it["package"], source=it["source"]) for it in rows])

    print("packages in the lists: %d" % n_all)
    for why, n in dropped.items():
        print("  dropped, %s: %d" % (why, n))
    print("items: " + ", ".join("%s %d" % (k, len(v)) for k, v in splits.items()))
    print("%-10s %6s %6s %6s" % ("section", "train", "val", "test"))
    counts = {k: collections.Counter(it["section"] for it in v) for k, v in splits.items()}
    for sec in SECTIONS:
        print("%-10s %6d %6d %6d" % (sec, counts["train"][sec], counts["val"][sec], counts["test"][sec]))
    for name in ("val", "test"):
        sec, n = counts["train"].most_common(1)[0]
        print("majority-class baseline on %s (always '%s', train's most frequent): %.1f%% (%d/%d)"
              % (name, sec, 100.0 * counts[name][sec] / len(splits[name]), counts[name][sec], len(splits[name])))
        ok = sum(name_rule(it["package"]) == it["section"] for it in splits[name])
        print("package-name rule on %s (-perl, python3-, -dev, -doc, lib*, else utils): %.1f%% (%d/%d)"
              % (name, 100.0 * ok / len(splits[name]), ok, len(splits[name])))


if __name__ == "__main__":
    main()
