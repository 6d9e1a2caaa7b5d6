"""End of life in view: docs/eol.yaml, the README table made from it, the `make test` summary lines.

The unit tier fails when a date has passed without a recorded decision, when a
pin moved to a release cycle without a date, or when the README's table is not
the one the data file gives.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lostops import eol, pins
from tests.unit import clirun

TODAY = dt.date.today()


@pytest.fixture(scope="module")
def found():
    return pins.scan().pins


def test_every_component_resolves_to_its_pin_and_a_dated_cycle(found):
    rows = eol.rows(pins_found=found)
    assert {r.component for r in rows} >= {"MySQL", "PHP (app image, app CI)", "CDK for Terraform (cdktf)"}
    for r in rows:
        assert r.action and r.eol and r.pinned


def test_a_date_already_past_has_a_recorded_decision(found):
    assert eol.problems(eol.rows(pins_found=found), TODAY) == []


def test_the_readme_table_is_generated_from_the_data_file(found):
    readme = eol.README.read_text(encoding="utf-8")
    assert eol.readme_with_table(readme, eol.rows(pins_found=found)) == readme, "run `make eol-table`"


def _data(eol_date, decision=None, version_dep="docker.io/library/x"):
    cycle = {"eol": eol_date, **({"decision": decision} if decision else {})}
    return {
        "components": [
            {
                "component": "X",
                "pin": {"file": "pillar/images.sls", "dep": version_dep},
                "cycles": {"1.2": cycle},
                "action": "move",
            }
        ]
    }


PIN = [pins.Pin("pillar/images.sls", 3, "image-entry", "docker.io/library/x", "1.2.7", 0, "")]


def test_past_date_without_decision_is_named():
    rows = eol.rows(_data(TODAY - dt.timedelta(days=1)), PIN)
    assert eol.problems(rows, TODAY) == [
        f"docs/eol.yaml: X: cycles.1.2.decision: end of life was {TODAY - dt.timedelta(days=1)}; "
        "record the decision (kept, and why) or move the pin"
    ]
    assert eol.problems(eol.rows(_data(TODAY - dt.timedelta(days=1), "Kept: because."), PIN), TODAY) == []


@pytest.mark.parametrize(
    ("days", "line"),
    [
        (30, "end of life in 30 days: X 1.2 on {d}; move"),
        (90, "end of life in 90 days: X 1.2 on {d}; move"),
        (91, None),
        (-5, "end of life passed: X 1.2 on {d} (5 days ago); Kept: because"),
    ],
)
def test_summary_names_components_within_90_days_and_past(days, line):
    date = TODAY + dt.timedelta(days=days)
    rows = eol.rows(_data(date, "Kept: because. More."), PIN)
    assert eol.summary_lines(rows, TODAY) == ([line.format(d=date)] if line else [])


def test_a_pin_in_a_cycle_without_a_date_fails_in_one_line():
    moved = [pins.Pin("pillar/images.sls", 3, "image-entry", "docker.io/library/x", "1.3.0", 0, "")]
    with pytest.raises(eol.EolError, match=r"^docs/eol.yaml: X: cycles: no end-of-life date for 1.3.0"):
        eol.rows(_data(TODAY), moved)
    with pytest.raises(eol.EolError, match=r"^docs/eol.yaml: X: pin: no pin 'docker.io/library/y'"):
        eol.rows(_data(TODAY, version_dep="docker.io/library/y"), PIN)


def test_make_test_summary_prints_the_eol_lines_before_the_total(tmp_path):
    junit = tmp_path / "unit.xml"
    junit.write_text('<testsuite tests="2" failures="0" errors="0" skipped="0" time="1.0"/>')
    out = clirun.run("summary", "tests", "--eol", f"unit={junit}")
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and lines[-1] == "total: 2 passed, 0 failed"
    expected = eol.summary_lines(eol.rows(), TODAY)
    assert expected and lines[-1 - len(expected) : -1] == expected
