"""Checks the built docs site as a reader sees it: code that would be cut, lists that rendered flat.

    python scripts/check_site.py out/site        # make docs runs it after mkdocs build

Every page must link docs/stylesheets/extra.css, which wraps long lines in code blocks (an error message or a
CLI table is read whole, never cut at the edge); code a reader copies (Python, shell, TOML) must also keep its
lines within MAX_CODE characters, since a wrapped command is hard to read. A Markdown list nested with fewer than
four spaces renders flat in Python-Markdown (a numbered step's bullets become steps of their own). Exits 1
naming each page and line.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

MAX_CODE = 120
"""Longest code line, in characters (the site's code blocks show about that many at full width)."""


def problems(site: Path, docs: Path) -> list[str]:
    found = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        if "stylesheets/extra.css" not in text:
            found.append(f"{page.relative_to(site)}: does not link stylesheets/extra.css (long code lines are cut)")
        copied = r'<div class="language-(?:python|py|sh|bash|console|toml)[^"]*"[^>]*>\s*<pre[^>]*>(.*?)</pre>'
        for block in re.findall(copied, text, flags=re.S):
            for line in html.unescape(re.sub(r"<[^>]+>", "", block)).splitlines():
                if len(line) > MAX_CODE:
                    found.append(f"{page.relative_to(site)}: code line of {len(line)} characters: {line[:60]}...")
    for source in sorted(docs.rglob("*.md")):
        lines = source.read_text(encoding="utf-8").splitlines()
        fenced = False
        for n, line in enumerate(lines, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            if not fenced and re.match(r"^ {1,3}[-*] ", line):
                found.append(f"{source}:{n}: a nested list item indented by fewer than 4 spaces renders flat")
    return found


def main() -> int:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "out/site")
    found = problems(site, Path("docs"))
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
