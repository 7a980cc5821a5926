"""Every relative link of README.md and docs/**/*.md names a path of the repository, and every
`#anchor` names a heading of the page it points at: moving a doc or renaming a heading without
fixing the pages that link to it fails here, not in a reader's browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# [text](target) and [text](target "title"); images (![alt](src)) too.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def doc_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _prose(text: str) -> str:
    """The text a reader sees as prose: fenced blocks and inline code hold no links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = anchor_of(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    targets = LINK.findall(_prose(page.read_text()))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def test_the_docs_exist():
    pages = doc_pages()
    assert (REPO / "README.md").is_file()
    assert len(pages) > 1, "no page under docs/"


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    broken = []
    for target in relative_links(page):
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if root not in (resolved, *resolved.parents):
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file ({resolved.relative_to(root)})")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading '#{fragment}' in {resolved.relative_to(root)}")
    return broken


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(REPO)} has broken links:\n" + "\n".join(broken)


def test_a_broken_link_is_caught(tmp_path: Path):
    # The check must be able to fail: a missing file, a missing heading, a path out of the tree;
    # a good link and a link inside code pass.
    (tmp_path / "docs").mkdir()
    (tmp_path / "other.md").write_text("# Other page\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Title\n\nSee [a](missing.md), [b](#nowhere), [c](../other.md#other-page), [d](#title),\n"
        "[e](../../outside.md), [f](../other.md#gone), [g](https://example.com/x) and `[h](in-code.md)`.\n"
        "```\n[i](in-a-fence.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "missing.md: no such file (docs/missing.md)",
        "#nowhere: no heading '#nowhere' in docs/page.md",
        "../../outside.md: outside the repository",
        "../other.md#gone: no heading '#gone' in other.md",
    ]


def test_anchor_of_follows_github():
    assert anchor_of("modelstack check") == "modelstack-check"
    assert anchor_of("The 12-vCPU rule") == "the-12-vcpu-rule"
    assert anchor_of("Fallback: azmlinfsrv") == "fallback-azmlinfsrv"
    assert anchor_of("Coming from Azure ML: `modelstack import`") == "coming-from-azure-ml-modelstack-import"
    assert anchor_of("Keys, tokens and secrets") == "keys-tokens-and-secrets"
