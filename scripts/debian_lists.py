# scripts/debian_lists.py: reads Debian's apt lists (Packages and Translation-en/-zh_CN, lz4 or plain)
# into one record per binary package; shared by make_sections_data.py and make_corpus.py (stdlib only).
import glob
import os
import re
import subprocess

LISTS = "/var/lib/apt/lists"
# Only Debian's own archive (bookworm, -updates, -security, main): other apt sources on a machine
# (vendor repositories) would make the data depend on who ran the script.
SUITES = ["debian_dists_bookworm_", "debian_dists_bookworm-updates_", "debian-security_dists_bookworm-security_"]


def _lists(kind):
    out = []
    for suite in SUITES:
        pat = os.path.join(LISTS, "deb.debian.org_" + suite + "main_" + kind + "*")
        out += sorted(p for p in glob.glob(pat) if not p.endswith((".diff", ".gpg")))
    return out


def _cat(path):
    # apt-helper decompresses whatever apt stored (lz4, gz, xz, plain) without extra packages
    r = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], check=True, stdout=subprocess.PIPE)
    return r.stdout.decode("utf-8", "replace")


def _stanzas(text):
    for block in text.split("\n\n"):
        fields, key = {}, None
        for line in block.split("\n"):
            if not line:
                continue
            if line[0] in " \t" and key:
                fields[key] += "\n" + line
            else:
                key, _, val = line.partition(":")
                fields[key] = val.strip()
        if fields:
            yield fields


def translations(lang):
    """Description-md5 -> (short, long lines as in the file, without the leading space)."""
    out = {}
    for path in _lists("i18n_Translation-" + lang.replace("_", "%5f")):
        for f in _stanzas(_cat(path)):
            d = f.get("Description-" + lang)
            if d is None or "Description-md5" not in f:
                continue
            short, _, rest = d.partition("\n")
            out[f["Description-md5"]] = (short.strip(), [l[1:] if l.startswith(" ") else l for l in rest.split("\n")] if rest else [])
    return out


def packages():
    """Package name -> dict(package, source, section (area prefix removed), md5, short)."""
    out = {}
    for path in _lists("binary-amd64_Packages"):
        for f in _stanzas(_cat(path)):
            if "Package" not in f:
                continue
            src = re.sub(r"\s*\(.*\)", "", f.get("Source", f["Package"])).strip()
            sec = f.get("Section", "").split("/")[-1]
            out[f["Package"]] = dict(package=f["Package"], source=src, section=sec,
                                     md5=f.get("Description-md5", ""), short=f.get("Description", "").strip())
    return out


def long_text(lines):
    """Debian's long-description markup as plain text: ' .' lines are paragraph breaks, wrapped lines
    of a paragraph are joined, lines indented further (lists, verbatim) keep their own line."""
    paras, cur = [], []
    for l in lines:
        if l.strip() == ".":
            if cur:
                paras.append(cur)
            cur = []
        elif l.startswith(" ") or re.match(r"^[*\-o+] ", l) or not cur:
            cur.append(l.strip())
        else:
            cur[-1] += " " + l.strip()
    if cur:
        paras.append(cur)
    return "\n\n".join("\n".join(p) for p in paras).strip()
