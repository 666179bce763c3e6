#!/usr/bin/env python3
# scripts/make_corpus.py: the pre-training text of qwick's shipped model (English + Chinese, all of it
# from Debian) and its held-out validation text; called by scripts/make_corpus.sh, which fetches the debs.
#
# Usage: python3 scripts/make_corpus.py ROOT      (ROOT: where make_corpus.sh unpacked the pinned debs)
# Writes data/corpus/train.txt (gitignored, regenerated) and data/corpus_val.txt (committed). Documents are
# separated by a line "<|endoftext|>". Left out of both: every package of a source that has an item in
# data/sections/{val,test}.jsonl, and any package whose description text equals one of theirs, so the
# task's held-out items are never seen in pre-training. The validation text is made of the descriptions
# of the val split's packages (never those of test) and of man pages and fortunes held out by name.
import collections
import concurrent.futures
import glob
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import debian_lists  # noqa: E402

REPO = os.path.join(HERE, "..")
SEED = 20250520
# bytes of train.txt per part: about 19 MB, 5M tokens, in all
BUDGET = {"desc_en": 10_000_000, "man_en": 4_000_000, "man_zh": 2_500_000}
PAGE_BYTES = 30_000       # a man page longer than this is cut at a paragraph break
VAL_BYTES = {"desc": 140_000, "man": 100_000, "zh": 80_000}
SEP = "\n<|endoftext|>\n"


def held_out(name):
    """About 3% of man pages and fortune files go to validation, chosen by a hash of the name."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 100 < 3


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def norm(s):
    return re.sub(r"\s+", " ", s.lower()).strip()


def clean_man(text):
    lines = []
    for l in text.split("\n"):
        l = l.rstrip()
        n = len(l) - len(l.lstrip(" "))
        l = re.sub(r" {3,}", "  ", l.lstrip(" "))  # the gaps of justified text and of tables
        l = re.sub(r"([^\w\s]|_)\1{71,}", lambda m: m.group(1) * 72, l)  # rules drawn across MANWIDTH
        l = " " * max(0, n - 7) + l  # less man's 7-column indent
        lines.append(l)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def render_man(path):
    env = dict(os.environ, MANWIDTH="1000", LC_ALL="C.UTF-8")
    man = subprocess.run(["man", "--no-hyphenation", "--no-justification", "-E", "UTF-8", "-l", path],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    col = subprocess.run(["col", "-bx"], input=man.stdout, env=env, stdout=subprocess.PIPE)
    return clean_man(col.stdout.decode("utf-8", "replace"))


def man_pages(root, sub):
    files = sorted(p for p in glob.glob(os.path.join(root, "usr/share/man", sub, "man*", "*"))
                   if os.path.isfile(p) and not os.path.islink(p))
    # pages that only say ".so other.3" render as their target: skip them, the target is there
    files = [p for p in files if not (gzip.open(p).read(200) if p.endswith(".gz") else open(p, "rb").read(200))
             .lstrip().startswith(b".so ")]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        texts = list(ex.map(render_man, files))
    return [(os.path.basename(p), t) for p, t in zip(files, texts) if len(t) > 200]


def fortunes(root):
    out = []
    for name in ("chinese", "tang300", "song100"):
        with open(os.path.join(root, "usr/share/games/fortunes", name), encoding="utf-8", errors="replace") as f:
            text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
        for i, fo in enumerate(re.split(r"\n%\n", text)):
            fo = fo.strip()
            if fo:
                out.append(("%s/%d" % (name, i), fo))
    return out


def docs(root):
    out = []
    for p in sorted(glob.glob(os.path.join(root, "usr/share/doc/**/*.txt*"), recursive=True)):
        b = os.path.basename(p)
        if re.search(r"\.\d+\.\d+\.txt", b) or b == "debian-faq.txt.gz":  # older versions, a duplicate
            continue
        raw = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
        out.append((b, raw.decode("utf-8", "replace").strip()))
    return out


def description(p, tr):
    short, lines = tr[p["md5"]]
    text = "Package: %s\nDescription: %s" % (p["package"], short)
    long = debian_lists.long_text(lines)
    return text + ("\n" + long if long else "")


def main():
    root = sys.argv[1]
    rng = random.Random(SEED)
    sec_dir = os.path.join(REPO, "data", "sections")
    heldout = {s: read_jsonl(os.path.join(sec_dir, s + ".jsonl")) for s in ("val", "test")}
    task_train = read_jsonl(os.path.join(sec_dir, "train.jsonl"))
    bad_src = {it["source"] for s in heldout.values() for it in s}

    pk = debian_lists.packages()
    tr_en = debian_lists.translations("en")
    tr_zh = debian_lists.translations("zh_CN")
    bad_md5 = {pk[it["package"]]["md5"] for s in heldout.values() for it in s}
    bad_text = {norm(tr_en[m][0] + " " + " ".join(tr_en[m][1])) for m in bad_md5 if m in tr_en}

    def allowed(p):
        if p["source"] in bad_src or p["md5"] in bad_md5 or p["md5"] not in tr_en:
            return False
        short, lines = tr_en[p["md5"]]
        return norm(short + " " + " ".join(lines)) not in bad_text

    parts = collections.defaultdict(list)  # kind -> documents of train.txt
    val = collections.defaultdict(list)

    # English descriptions: the task's train packages first, then the rest of the archive in a seeded
    # order, each description text once, up to the budget
    seen, size = set(), 0
    rest = sorted(set(pk) - {it["package"] for it in task_train})
    rng.shuffle(rest)
    for name in [it["package"] for it in task_train] + rest:
        p = pk[name]
        if not allowed(p) or p["md5"] in seen:
            continue
        seen.add(p["md5"])
        d = description(p, tr_en)
        if size + len(d) > BUDGET["desc_en"]:
            break
        parts["desc_en"].append(d)
        size += len(d)
    for it in heldout["val"]:
        p = pk[it["package"]]
        if p["md5"] in tr_en:
            val["desc"].append(description(p, tr_en))

    # Chinese descriptions (DDTP's zh_CN translations), held-out packages left out
    seen_zh = set()
    for name in sorted(pk):
        p = pk[name]
        if p["md5"] not in tr_zh or p["md5"] in seen_zh or p["source"] in bad_src or p["md5"] in bad_md5:
            continue
        seen_zh.add(p["md5"])
        parts["desc_zh"].append(description(p, tr_zh))

    print("rendering man pages ...", file=sys.stderr)
    for kind, sub, vkey in (("man_en", "", "man"), ("man_zh", "zh_CN", "zh")):
        for name, text in man_pages(root, sub):
            (val[vkey] if held_out(name) else parts[kind]).append(text)
    for name, text in fortunes(root):
        (val["zh"] if held_out(name) else parts["fortune_zh"]).append(text)
    parts["doc_en"] = [t for _, t in docs(root)]
    for kind in ("man_en", "man_zh"):
        pages, parts[kind], n = parts[kind], [], 0
        random.Random(SEED).shuffle(pages)
        for t in pages:
            if len(t.encode()) > PAGE_BYTES:
                t = t.encode()[:PAGE_BYTES].decode("utf-8", "ignore")
                t = t[: max(t.rfind("\n\n"), len(t) // 2)]
            if n + len(t.encode()) > BUDGET[kind]:
                break
            parts[kind].append(t)
            n += len(t.encode())

    # NFC, as the tokenizer normalises, so that decode(encode(text)) gives the text back
    parts = {k: [unicodedata.normalize("NFC", d) for d in v] for k, v in parts.items()}
    val = {k: [unicodedata.normalize("NFC", d) for d in v] for k, v in val.items()}
    train = [d for k in sorted(parts) for d in parts[k]]
    rng.shuffle(train)
    os.makedirs(os.path.join(REPO, "data", "corpus"), exist_ok=True)
    with open(os.path.join(REPO, "data", "corpus", "train.txt"), "w", encoding="utf-8") as f:
        f.write(SEP.join(train) + "\n")

    vdocs = []
    for k in sorted(val):
        docs_k, n = list(val[k]), 0
        random.Random(SEED).shuffle(docs_k)
        for d in docs_k:
            if n >= VAL_BYTES[k]:
                break
            vdocs.append(d)
            n += len(d.encode())
    random.Random(SEED).shuffle(vdocs)
    with open(os.path.join(REPO, "data", "corpus_val.txt"), "w", encoding="utf-8") as f:
        f.write(SEP.join(vdocs) + "\n")

    print("%-11s %6s %10s" % ("train part", "docs", "bytes"))
    for k in sorted(parts):
        print("%-11s %6d %10d" % (k, len(parts[k]), sum(len(d.encode()) for d in parts[k])))
    print("train.txt: %d documents, %d bytes" % (len(train), sum(len(d.encode()) for d in train)))
    print("corpus_val.txt: %d documents, %d bytes" % (len(vdocs), sum(len(d.encode()) for d in vdocs)))


if __name__ == "__main__":
    main()
