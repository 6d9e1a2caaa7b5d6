"""docs/figures.md: the one place for measured numbers, written by the benchmark targets."""

from __future__ import annotations

import re

import pytest

from lostops import figures


def test_the_committed_file_has_one_section_per_benchmark():
    text = figures.FIGURES.read_text(encoding="utf-8")
    for name in ("synth", "e2e", "test"):
        assert text.count(f"<!-- figures:{name} -->") == 1, name
        assert text.count(f"<!-- /figures:{name} -->") == 1, name


def test_record_replaces_only_its_own_section(tmp_path):
    doc = tmp_path / "figures.md"
    doc.write_text(
        "# F\n<!-- figures:a -->\nold a\n<!-- /figures:a -->\nkeep\n<!-- figures:b -->\nold b\n<!-- /figures:b -->\n"
    )
    figures.record("a", [("synth", "1.0 s"), ("ratio", "1.05")], file=doc)
    text = doc.read_text()
    assert "old a" not in text and "old b" in text and "keep" in text
    assert "| synth | 1.0 s |" in text and "| ratio | 1.05 |" in text
    assert re.search(r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC on \d+ cores", text)
    figures.record("a", [("synth", "2.0 s")], file=doc)
    assert doc.read_text().count("<!-- figures:a -->") == 1 and "1.0 s" not in doc.read_text()


def test_record_refuses_a_missing_section(tmp_path):
    doc = tmp_path / "figures.md"
    doc.write_text("nothing here\n")
    with pytest.raises(figures.FiguresError, match="figures:synth"):
        figures.record("synth", [("x", "y")], file=doc)


def test_no_other_doc_types_the_figures(tmp_path):
    # The README links to docs/figures.md instead of carrying its own table.
    readme = (figures.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/figures.md" in readme
    assert "## Figures (" not in readme
