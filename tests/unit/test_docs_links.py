"""Docs without dead links: every relative link and image in the Markdown files resolves.

Covers every tracked *.md file (README, docs/, formula READMEs, ...). External
links (http, https, mailto) and pure anchors are not checked; a link's own
anchor is ignored, its file must exist.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def markdown_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True)
    return sorted(out.stdout.split())


def relative_links(text: str) -> list[str]:
    # Links inside fenced code blocks are examples, not links.
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    links = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        links.append(target.split("#", 1)[0])
    return links


def test_the_parser_finds_links_and_skips_external_ones():
    text = "[a](docs/x.md#y) ![b](img.png) [c](https://e.org) [d](#top)\n```\n[e](nope.md)\n```\n"
    assert relative_links(text) == ["docs/x.md", "img.png"]


@pytest.mark.parametrize("doc", markdown_files())
def test_relative_links_resolve(doc):
    path = REPO / doc
    dead = [t for t in relative_links(path.read_text(encoding="utf-8")) if not (path.parent / t).exists()]
    assert not dead, f"{doc}: dead relative links: {', '.join(dead)}"
