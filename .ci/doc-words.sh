#!/usr/bin/env bash
# Checks that the rendered public docs read as a user's tour: no citations
# of the internal contract, no internal vocabulary. Run after
#   cargo doc --no-deps --all-features
# It strips the tags from every page under $CARGO_TARGET_DIR/doc/fusebox/ (default target/) and looks for
#   * "SPEC" (the internal contract's name),
#   * "seed" in any case (the unticketed API's old name),
#   * "era" as a word (an engine internal),
#   * rule numbers R1..R13, unless the same page defines that number (a
#     table row or a heading that starts with it, as the crate root's
#     "How it decides" table does).
# Prints "page:line: text" for each hit and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
doc_dir="${1:-${CARGO_TARGET_DIR:-target}/doc/fusebox}"
if [ ! -d "$doc_dir" ]; then
  echo "doc-words: $doc_dir is missing; run cargo doc --no-deps --all-features first" >&2
  exit 2
fi
python3 - "$doc_dir" <<'PY'
import html, pathlib, re, sys

root = pathlib.Path(sys.argv[1])
words = [
    ("SPEC", re.compile(r"SPEC")),
    ("seed", re.compile(r"seed", re.I)),
    ("era", re.compile(r"\bera\b", re.I)),
]
rule = re.compile(r"\bR([1-9]|1[0-3])\b")
# A definition: the number opens a table cell or a heading.
define = re.compile(r"<(?:td|th|h[1-6])[^>]*>\s*(?:<[^>]+>\s*)*R([1-9]|1[0-3])\b")

def text_lines(page):
    # Only the page's own documentation, not rustdoc's scripts or the
    # search index's inline data.
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    body = re.sub(r"(?i)<br\s*/?>|</(p|li|tr|h[1-6]|pre|div|td|th)>", "\n", body)
    body = re.sub(r"<[^>]+>", "", body)
    return html.unescape(body).splitlines()

hits = 0
pages = sorted(root.rglob("*.html"))
for path in pages:
    page = path.read_text(encoding="utf-8", errors="replace")
    defined = {m.group(1) for m in define.finditer(page)}
    for n, line in enumerate(text_lines(page), 1):
        found = [name for name, rx in words if rx.search(line)]
        found += [
            m.group(0) for m in rule.finditer(line) if m.group(1) not in defined
        ]
        if found:
            hits += 1
            print(f"{path}:{n}: [{', '.join(found)}] {line.strip()[:200]}")
if not pages:
    print(f"doc-words: no pages under {root}", file=sys.stderr)
    sys.exit(2)
if hits:
    print(f"doc-words: {hits} line(s) with internal words in {root}", file=sys.stderr)
    sys.exit(1)
print(f"doc-words: {len(pages)} pages clean")
PY
