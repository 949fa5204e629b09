"""The docs hold together: the README fits on a screen and links every page, no link is dead, and every setting is
documented in exactly one row of docs/configuration.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings (fenced code left out: a `# comment` there is no heading)."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def links(page: Path) -> list[str]:
    """The targets of a page's markdown links, outside fenced code."""
    return LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_no_link_is_dead(page):
    """Every relative link names a file that exists and, with an #anchor, a heading of that file with that anchor."""
    dead = []
    for target in links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            dead.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            dead.append(f"{target}: no heading with the anchor #{anchor} in {file.name}")
    assert not dead, f"{page.name}: " + "; ".join(dead)


def test_every_setting_is_documented_in_exactly_one_row_of_the_configuration_page():
    """Each field of common.config.settings.Settings is named, in backticks, in the first cell of exactly one table row."""
    lines = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines()
    named = [line.split("|")[1] for line in lines if line.startswith("|")]  # a row's first cell names the keys it documents
    counts = {key: sum(1 for cell in named if f"`{key}`" in cell) for key in Settings.model_fields}
    wrong = {key: count for key, count in counts.items() if count != 1}
    assert not wrong, f"settings documented in other than one row of docs/configuration.md: {wrong}"


def test_the_readme_fits_on_a_screen_and_links_every_page():
    """README.md is at most 300 lines, and every docs/*.md page is linked from it."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300, f"README.md has {len(text.splitlines())} lines; move detail to docs/"
    linked = {Path(target.partition("#")[0]).name for target in links(README)}
    assert not {page.name for page in PAGES} - linked, f"pages the README does not link: {sorted({page.name for page in PAGES} - linked)}"
