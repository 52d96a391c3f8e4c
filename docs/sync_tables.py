"""Copy the study's generated tables into the docs, so that no page shows a number the study no longer gives.

A table in a docs page that copies one from a generated page (`figures/findings.md`, `figures/anchors.md`)
carries a marker on the line just above it:

    <!-- table: figures/findings.md | ## Every measure -->

naming the generated page and the start of a heading line in it; the first table under that heading is the
one copied. `python docs/sync_tables.py` rewrites every marked table from its page; `--check` changes
nothing, lists the stale tables and exits 1 if there are any (tests/test_docs.py runs it).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

MARKER = re.compile(r"^<!-- table: (?P<page>\S+) \| (?P<heading>.+?) -->$")
ROOT = Path(__file__).resolve().parent.parent


def table_span(lines: list[str], start: int) -> tuple[int, int]:
    """[first, end) of the first Markdown table at or after line `start`."""
    first = next((i for i in range(start, len(lines)) if lines[i].startswith("|")), len(lines))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return first, end


def generated_table(page: Path, heading: str) -> list[str]:
    """The first table under the first line of `page` that starts with `heading`."""
    if not page.is_file():
        raise ValueError(f"no generated page {page}")
    lines = page.read_text(encoding="utf-8").splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if at is None:
        raise ValueError(f"{page} has no line starting with {heading!r}")
    first, end = table_span(lines, at + 1)
    if first == end:
        raise ValueError(f"{page} has no table under {heading!r}")
    return lines[first:end]


def synced(text: str, root: Path, name: str = "page") -> tuple[str, list[str]]:
    """`text` with every marked table replaced by its generated one, and a line per table that changed."""
    lines, stale = text.splitlines(), []
    for i, line in enumerate(lines):
        marker = MARKER.match(line)
        if not marker:
            continue
        try:
            table = generated_table(root / marker["page"], marker["heading"])
        except ValueError as error:
            raise ValueError(f"{name}:{i + 1}: {error}") from None
        first, end = table_span(lines, i + 1)
        if first != i + 1:
            raise ValueError(f"{name}:{i + 1}: a table marker must stand on the line just above its table")
        if lines[first:end] != table:
            stale.append(f"{name}:{i + 1}: the table from {marker['page']} under {marker['heading']!r}")
            lines[first:end] = table
    return "\n".join(lines) + ("\n" if text.endswith("\n") else ""), stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; list the stale tables, exit 1 if any")
    args = parser.parse_args(argv)
    stale = []
    for page in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        text = page.read_text(encoding="utf-8")
        try:
            new, changed = synced(text, ROOT, str(page.relative_to(ROOT)))
        except ValueError as error:
            print(f"sync_tables: {error}", file=sys.stderr)
            return 2
        stale += changed
        if changed and not args.check:
            partial = page.with_suffix(".md.partial")
            partial.write_text(new, encoding="utf-8")
            partial.replace(page)
    for line in stale:
        print(("stale: " if args.check else "updated: ") + line)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
