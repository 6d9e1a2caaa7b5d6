"""End-to-end tier: real salt-ssh against the three booted lab hosts.

Session fixtures (shared by every test module, in this order):

``lab``        boots the lab (tests/lab/labctl.py ``Lab().up()``, fresh hosts) and
               ALWAYS tears it down in a finalizer (``down()``, then
               ``labctl check-clean``), also when tests fail.
``salt_env``   the environment of every salt-ssh subprocess: ``.lab/env``
               (LOSTOPS_INVENTORY=lab, LOSTOPS_SSH_KEY, LOSTOPS_KNOWN_HOSTS) plus
               LOSTOPS_SECRETS_FILE=.lab/secrets.yaml, written by the real
               ``lostops secrets write`` with throw-away values.
``converge``   the first ``salt-ssh '*' state.apply`` (shared; tests/e2e/test_01).
``converged``  the same, but fails the requesting test when the first converge
               did not succeed (nothing after it is meaningful then).

The summary printed at the end (pytest_terminal_summary) only shows what was
measured in this run; a check that failed shows a FAILED line.

Developer switch: LOSTOPS_E2E_KEEP=1 reuses a running lab and leaves it up
(the summary says so). Never set in CI.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.e2e import labenv, labsecrets, probes, saltrun
from tests.e2e.summary import SUMMARY
from tests.lab import labctl

_T0 = time.monotonic()
KEEP = os.environ.get("LOSTOPS_E2E_KEEP") == "1"
_CONVERGE: dict = {}
_FACTS = {"passed": 0, "failed": 0, "failed_ids": []}


def pytest_sessionstart(session):
    problem = lib_preflight()
    if problem:
        raise pytest.UsageError(problem)
    # A cancelled CI job gets SIGTERM: turn it into KeyboardInterrupt so that
    # pytest still runs the session finalizer (lab down + check-clean).
    signal.signal(signal.SIGTERM, _sigterm)


def _sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def lib_preflight() -> str | None:
    """One line saying why this machine cannot run the tier, or None."""
    from tests.e2e.preflight import problem

    return problem()


@pytest.fixture(scope="session")
def lab(request):
    the_lab = labctl.Lab()

    def teardown():
        mem = []
        for h in labenv.HOSTS:
            try:
                mem.append(f"{h} {the_lab.memory(h)['anon'] / 2**20:.0f} MiB")
            except Exception:  # a host may be down after a failure
                pass
        if mem and "memory" in SUMMARY.lines:
            SUMMARY.lines["memory"] += "; anonymous memory at the end: " + ", ".join(mem)
        labenv.close_ssh_masters()
        if KEEP:
            SUMMARY.ok("teardown", "SKIPPED (LOSTOPS_E2E_KEEP=1): the lab is still up")
            return
        down_s, r = probes.down_and_check_clean(the_lab)
        if r.returncode == 0:
            SUMMARY.ok("teardown", f"down in {down_s:.1f} s, check-clean: clean")
        else:
            SUMMARY.failed("teardown", f"check-clean: {r.stdout.strip()} {r.stderr.strip()}")
            raise AssertionError(f"lab not clean after down:\n{r.stdout}{r.stderr}")

    request.addfinalizer(teardown)  # before up(): a partial up is torn down too
    if the_lab.is_up() and not KEEP:
        labctl.log("e2e: a lab is already running; taking it down for fresh hosts")
        the_lab.down()
    t0 = time.monotonic()
    try:
        the_lab.up()
    except Exception as exc:
        SUMMARY.failed("lab", f"up: {str(exc).splitlines()[0]}")
        raise
    up_s = time.monotonic() - t0
    SUMMARY.time("lab up", up_s)
    SUMMARY.ok("lab", f"3 hosts up in {up_s:.1f} s (boot to sshd {the_lab.timings.get('boot_to_sshd_s')})")
    return the_lab


@pytest.fixture(scope="session")
def lab_env(lab):
    return labenv.read_env_file(lab.env_file)


@pytest.fixture(scope="session")
def secret_values(lab_env):
    if KEEP and labenv.SECRETS_FILE.exists():
        # reused lab: same secrets, or every container would be re-created
        from lostops import secrets

        return secrets.read(labenv.SECRETS_FILE)
    return labsecrets.write_lab_secrets(lab_env)


@pytest.fixture(scope="session")
def salt_env(lab_env, secret_values):
    return labenv.salt_env(lab_env)


@pytest.fixture(scope="session")
def ssh_config(lab):
    return labenv.write_ssh_config(lab)


@pytest.fixture(scope="session")
def converge(lab, salt_env):
    """The first converge of all three hosts (run once, shared)."""
    if "run" not in _CONVERGE:
        run = saltrun.salt_ssh("*", "state.apply", env=salt_env, timeout=900)
        _CONVERGE["run"] = run
        try:
            mem = ", ".join(f"{h} {lab.peak_memory(h) / 2**20:.0f} MiB" for h in labenv.HOSTS)
            SUMMARY.ok("memory", f"peak per host during boot + first converge (incl. page cache): {mem}")
        except Exception:  # a host may have died
            pass
        SUMMARY.time("first converge", run.seconds)
        ok = [h for h in labenv.HOSTS if run.ok(h)]
        if run.rc == 0 and len(ok) == len(labenv.HOSTS):
            slow = "; ".join(
                f"{h}: " + ", ".join(f"{sid} {sec:.0f} s" for sid, sec in run.slowest(h)) for h in labenv.HOSTS
            )
            SUMMARY.ok(
                "converge", f"{len(ok)}/{len(labenv.HOSTS)} hosts OK ({run.seconds:.0f} s); slowest states {slow}"
            )
        else:
            bad = [h for h in labenv.HOSTS if h not in ok]
            SUMMARY.failed(
                "converge",
                f"{len(ok)}/{len(labenv.HOSTS)} hosts OK, exit {run.rc}; failing: "
                + ", ".join(f"{h} ({len(run.failures(h))} states)" for h in bad),
            )
    return _CONVERGE["run"]


@pytest.fixture(scope="session")
def converged(converge):
    if not (converge.rc == 0 and all(converge.ok(h) for h in labenv.HOSTS)):
        pytest.fail(
            "the first converge failed (see test_first_converge); this check needs converged hosts", pytrace=False
        )
    return converge


def pytest_configure(config):
    config.addinivalue_line("markers", "summary(key): the summary line this test reports (FAILED when it fails)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    mark = item.get_closest_marker("summary")
    if mark and rep.failed and rep.when in ("setup", "call"):
        key = mark.args[0]
        if "FAILED" not in SUMMARY.lines.get(key, ""):
            text = str(call.excinfo.value).strip() if call.excinfo else ""
            SUMMARY.failed(key, (text.splitlines() or ["failed"])[0][:300])


def pytest_runtest_logreport(report):
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return
    if "test_03_host_facts" in report.nodeid:
        if report.passed:
            _FACTS["passed"] += 1
        elif report.failed:
            _FACTS["failed"] += 1
            _FACTS["failed_ids"].append(report.nodeid.split("::")[-1])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = _FACTS["passed"] + _FACTS["failed"]
    if n:
        if _FACTS["failed"]:
            SUMMARY.failed("host facts", f"{_FACTS['passed']}/{n} checks OK; failed: {', '.join(_FACTS['failed_ids'])}")
        else:
            SUMMARY.ok("host facts", f"{n}/{n} checks OK (testinfra over ssh)")
    SUMMARY.time("tier total", time.monotonic() - _T0)
    terminalreporter.write_sep("=", "lostops end-to-end summary")
    for line in SUMMARY.render():
        terminalreporter.write_line(line)
