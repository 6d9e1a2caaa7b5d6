"""`make test` plumbing: scripts/deps-system and `lostops summary tests`.

deps-system is what lets a fresh machine run `make synth && make test` with
nothing else first (system python3, before any venv); `lostops summary tests`
writes the closing lines of `make test`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit import clirun

REPO = Path(__file__).resolve().parents[2]


def _load(script: str):
    loader = importlib.machinery.SourceFileLoader(script.replace("-", "_"), str(REPO / "scripts" / script))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


deps = _load("deps-system")


def _summary(*args: str) -> clirun.Result:
    return clirun.run("summary", "tests", *args)


# --------------------------------------------------------------- deps-system


def test_every_tier_lists_the_tools_the_unit_tests_run():
    unit = deps.packages("unit")
    for pkg in ("prometheus", "prometheus-alertmanager", "nftables", "graphviz"):
        assert pkg in unit, f"{pkg} missing from the unit tier's packages"
    e2e = deps.packages("e2e")
    assert {"systemd-container", "debootstrap"} <= set(e2e)
    assert set(deps.packages("all")) == set(unit) | set(e2e)


def test_missing_asks_dpkg():
    # dpkg is installed on every Debian machine; the other name cannot exist.
    assert deps.missing(["dpkg", "lostops-no-such-package"]) == ["lostops-no-such-package"]


def test_not_root_gets_one_line_naming_the_command(monkeypatch, capsys):
    monkeypatch.setattr(deps, "missing", lambda names: ["prometheus", "nftables"])
    monkeypatch.setattr(deps.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(deps.subprocess, "run", lambda *a, **k: pytest.fail("must not run apt-get"))
    assert deps.main(["--tier", "unit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "deps-system: missing Debian packages for the unit tier: prometheus nftables; run as root: sudo make deps-system"
    ]


def test_root_installs_exactly_what_is_missing(monkeypatch):
    calls = []
    state = {"missing": ["nftables"]}

    def fake_missing(names):
        return [n for n in names if n in state["missing"]]

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        if cmd[:2] == ["apt-get", "install"]:
            state["missing"] = []
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(deps, "missing", fake_missing)
    monkeypatch.setattr(deps.os, "geteuid", lambda: 0)
    monkeypatch.setattr(deps.subprocess, "run", fake_run)
    assert deps.main(["--tier", "unit"]) == 0
    assert calls[0][:2] == ["apt-get", "update"]
    assert calls[1][-1] == "nftables" and "--no-install-recommends" in calls[1]


UBUNTU_2404 = 'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n'
DEBIAN_13 = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nID=debian\n'


@pytest.mark.parametrize(
    "os_release, browser, expect_rc, installed",
    [
        # GitHub's ubuntu-24.04 image: no `chromium` .deb (snap only), Google Chrome on PATH
        (UBUNTU_2404, "google-chrome", 0, ["libnss3-tools"]),
        # Ubuntu without a browser: one line, no apt-get for a package that does not exist
        (UBUNTU_2404, None, 2, None),
        # Debian: the chromium package
        (DEBIAN_13, None, 0, ["chromium", "libnss3-tools"]),
        # Debian with chromium already there (by its executable)
        (DEBIAN_13, "chromium", 0, ["libnss3-tools"]),
    ],
)
def test_e2e_browser_on_ubuntu_and_debian(tmp_path, monkeypatch, capsys, os_release, browser, expect_rc, installed):
    osr = tmp_path / "os-release"
    osr.write_text(os_release)
    real_os_id = deps.os_id
    monkeypatch.setattr(deps, "os_id", lambda path=None: real_os_id(str(osr)))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if browser:
        (bindir / browser).write_text("#!/bin/sh\n")
        (bindir / browser).chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    state = {"missing": ["chromium", "libnss3-tools"]}
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        if cmd[:2] == ["apt-get", "install"]:
            state["missing"] = []
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(deps, "missing", lambda names: [n for n in names if n in state["missing"]])
    monkeypatch.setattr(deps.os, "geteuid", lambda: 0)
    monkeypatch.setattr(deps.subprocess, "run", fake_run)
    assert deps.main(["--tier", "e2e"]) == expect_rc
    if installed is None:
        assert calls == [], "apt-get must not be asked for a package the distribution does not ship"
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("deps-system: chromium: no such .deb on this distribution")
    else:
        assert calls[1][-len(installed) :] == installed


def test_os_id_reads_os_release(tmp_path):
    p = tmp_path / "os-release"
    p.write_text(UBUNTU_2404)
    assert deps.os_id(str(p)) == "ubuntu"
    p.write_text('ID="debian"\n')
    assert deps.os_id(str(p)) == "debian"
    assert deps.os_id(str(tmp_path / "none")) == ""


def test_nothing_missing_runs_nothing(monkeypatch):
    monkeypatch.setattr(deps, "missing", lambda names: [])
    monkeypatch.setattr(deps.subprocess, "run", lambda *a, **k: pytest.fail("must not run apt-get"))
    assert deps.main(["--tier", "all"]) == 0


# --------------------------------------------------------------- test-summary


def _junit(path: Path, tests: int, failures: int = 0, errors: int = 0, skipped: int = 0, time: float = 1.0):
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
        f'errors="{errors}" failures="{failures}" skipped="{skipped}" tests="{tests}" time="{time}">'
        "</testsuite></testsuites>"
    )
    return path


@pytest.mark.parametrize(
    "unit, e2e, expected",
    [
        (
            dict(tests=412, time=54.23),
            dict(tests=30, time=552.4),
            [
                "unit tier: 412 tests (412 passed) in 54.2 s",
                "e2e tier: 30 tests (30 passed) in 9 min 12 s",
                "total: 442 passed, 0 failed",
            ],
        ),
        (
            dict(tests=10, failures=1, errors=1, skipped=2, time=3.0),
            None,
            [
                "unit tier: 10 tests (6 passed, 2 failed, 2 skipped) in 3.0 s",
                "e2e tier: did not run",
                "total: 6 passed, 2 failed, 2 skipped",
            ],
        ),
    ],
)
def test_summary_lines(tmp_path, unit, e2e, expected):
    u = _junit(tmp_path / "unit.xml", **unit)
    e = _junit(tmp_path / "e2e.xml", **e2e) if e2e else tmp_path / "e2e.xml"
    r = _summary(f"unit={u}", f"e2e={e}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == expected
    # The last line is the plain closing form a CI log reader understands.
    assert re.fullmatch(r"total: \d+ passed, \d+ failed(, \d+ skipped)?", r.stdout.splitlines()[-1])


@pytest.mark.parametrize("arg", ["unit", "=x.xml", "unit="])
def test_summary_bad_usage(arg):
    r = _summary(arg)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1


def test_summary_rejects_a_file_that_is_not_junit(tmp_path):
    bad = tmp_path / "x.xml"
    bad.write_text("not xml")
    r = _summary(f"unit={bad}")
    assert r.returncode == 2 and str(bad) in r.stderr


@pytest.mark.parametrize(
    "program",
    [REPO / "scripts" / "deps-system", Path(sys.executable).parent / "lostops"],
    ids=["deps-system", "lostops"],
)
def test_programs_are_executable(program):
    # make calls both directly: deps-system with the system python3, lostops from the venv.
    assert os.access(program, os.X_OK)
