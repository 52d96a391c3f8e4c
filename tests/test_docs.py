"""The documentation stays true to the code: every `landscape` command and flag that README.md or
docs/ show exists, and every relative link resolves."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from landscape.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shown_commands(page: Path) -> list[list[str]]:
    """The `landscape ...` command lines in a page's code (indented blocks and backticks), as words;
    a line continued with a backslash is joined."""
    text = page.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.startswith("    ")]
    lines += re.findall(r"`(landscape [^`]+)`", text)
    commands = []
    for line in lines:
        for part in re.split(r"&&|;|\|", line):
            part = part.strip()
            if part.startswith("landscape "):
                try:
                    commands.append(shlex.split(part))
                except ValueError:  # an unbalanced quote inside prose: not a command
                    continue
    return commands


def flags_of(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {option for action in sub._actions for option in action.option_strings}


def test_the_docs_show_commands():
    assert sum(len(shown_commands(p)) for p in PAGES) >= 20


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_command_and_flag_shown_exists(page):
    commands = set(next(a for a in build_parser()._actions if a.dest == "command").choices)
    for words in shown_commands(page):
        if len(words) < 2 or words[1].startswith("-") or "COMMAND" in words[1]:
            continue
        assert words[1] in commands, f"{page.name}: `{' '.join(words)}` names no command"
        known = flags_of(words[1])
        for word in words[2:]:
            flag = word.split("=")[0]
            if flag.startswith("--") and flag != "--":
                assert flag in known, f"{page.name}: `{' '.join(words)}`: {flag} is not a flag of {words[1]}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name}: link {target} does not resolve"


def test_readme_is_short_and_has_the_two_set_up_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"    {ci}" in readme.splitlines()  # .ci/run runs README's test command verbatim
    assert "    pip install -e . && landscape study --profile quick --data ../shared/cifar10" in readme.splitlines()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_file_the_docs_name_exists(page):
    """A module, test or benchmark named in `backticks` (e.g. `tests/viz/test_report.py`) is there."""
    named = re.findall(r"`((?:tests|landscape|benchmarks)/[\w/.-]+\.(?:py|txt|json|sh|js))`", page.read_text())
    missing = [path for path in named if not (ROOT / path).exists()]
    assert not missing, missing


def sync_tables():
    """docs/sync_tables.py, loaded as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_tables", ROOT / "docs" / "sync_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_copied_table_matches_the_page_it_was_copied_from(page):
    _, stale = sync_tables().synced(page.read_text(), ROOT, page.name)
    assert not stale, "run `python docs/sync_tables.py`: " + "; ".join(stale)


def test_a_stale_table_is_replaced_and_a_missing_heading_refused(tmp_path):
    module = sync_tables()
    (tmp_path / "made.md").write_text("# Made\n\n## Widths (3 seeds)\n\nsome text\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    doc = "Intro.\n\n<!-- table: made.md | ## Widths -->\n| a | b |\n|---|---|\n| 0 | 9 |\n\nAfter.\n"
    text, stale = module.synced(doc, tmp_path, "doc.md")
    assert stale == ["doc.md:3: the table from made.md under '## Widths'"]
    assert text == "Intro.\n\n<!-- table: made.md | ## Widths -->\n| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter.\n"
    assert module.synced(text, tmp_path) == (text, [])
    with pytest.raises(ValueError, match="doc.md:1: .*made.md has no line starting with '## Depths'"):
        module.synced("<!-- table: made.md | ## Depths -->\n| a |\n", tmp_path, "doc.md")
    with pytest.raises(ValueError, match="just above its table"):
        module.synced("<!-- table: made.md | ## Widths -->\n\n| a |\n", tmp_path, "doc.md")
