"""12. Release rehearsal: the deploy job of release.yml and the drift job of drift.yml,
executed FROM THE WORKFLOW FILES, from the "internet" address.

Step 3 runs the deploy job of .github/workflows/release.yml and step 7 the
drift job of .github/workflows/drift.yml with tests/lab/workflow.py: their
steps are read from the files and executed in file order, each `run:` script
with the env a real run has (workflow, job and step `env:`, every `${{ }}`
evaluated against github/vars/secrets/needs/runner contexts, `if:` with the
status functions, $GITHUB_OUTPUT/$GITHUB_ENV/$GITHUB_STEP_SUMMARY). A step
added to a workflow runs here without touching this file. What needs GitHub
or Azure is replaced by a NAMED lab equivalent (LAB_USES, LAB_TARGETS,
LAB_STEPS below), and the summary names every step of the file with what
ran for it. Steps 1, 2, 4, 5 and 6 call single make targets (the same ones)
for the checks in between. The lab runs them with:

- **the runner's address = the lab's "internet" address 10.77.0.200**, which is
  not in the lab inventory's `ssh.admin_sources` (10.77.0.1/32). Every ssh
  and scp that salt-ssh starts (and the ProxyCommand ssh that reaches the
  database through the backend) leaves from it: a directory of wrappers put
  first in PATH (`ssh`/`scp` exec the real binaries with
  `-o BindAddress=10.77.0.200`; salt-ssh resolves `ssh`/`scp` through PATH,
  and ssh runs a ProxyCommand through the shell with the same PATH). The make
  targets, the roster and the repository are unchanged. sshd's own log on the
  hosts proves the source address of every login of the rehearsal;
- **the NSG step stubbed**: `LOSTOPS_JIT_CHANNEL=exec` skips it (there is no
  NSG in the lab) and says so;
- **the out-of-band channel emulated**: `LOSTOPS_JIT_EXEC='<venv python> -m
  tests.lab.labctl exec {host} --'` (nsenter as root, no SSH), standing in
  for `az vm run-command invoke`;
- `deps-deploy` assumed done (the venv exists): a `make` wrapper first in
  PATH adds `-o <venv>/.synced-deploy -o node_modules/.synced`, and the
  wrapper directory holds `pipenv`/`npm` stand-ins that fail loudly, so the
  rehearsal can never run `pipenv sync` or `npm ci`;
- the secrets: the workflow's own `make release-secrets` step writes them
  from the `secrets` context (the lab's values) to LOSTOPS_SECRETS_FILE in a
  temporary directory, and the SSH key to `${{ runner.temp }}`;
- the lab image has no registry digest: RELEASE_TAG_WITHOUT_DIGEST names why
  the roll-out deploys the tag.

Steps (one summary line each): (1) SSH refused before; (2) `make
release-access-open` grants it; (3) `make release-guard` + `make
release-rollout` deploy a new app version (fresh backup first, then the
migration one-shot, then the switch); (4) `make release-access-close`
removes access and `make release-access-check` is clean; (5) an element left
behind (`LOSTOPS_JIT_TTL=5s`) expires by itself; (6) `make release-guard`
refuses a version older than the serving one unless `FORCE=true`. Every step
also runs alone (`-k`): fixtures provide what the earlier steps leave behind in
file order (access open before (4), closed before (5), the roll-out of (3),
done once per module, before (3) and (6)) and do nothing when it is there.

The test itself never logs in over SSH (it would come from the admin
address): it inspects the hosts with `labctl exec` (nsenter).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e import labenv, probes
from tests.e2e.summary import SUMMARY
from tests.lab import workflow

SOURCE = labenv.INTERNET_IP
DIRECT = ["backend", "monitoring"]  # the JIT targets (no ssh_via)
MAKE_VENV = os.environ.get("VENV") or ".venv"  # what mk/release.mk's $(VENV) is
BACKUP_DIR = "/srv/lostops/mysql/backups"  # salt/mysql/parameters (backup:dir)
STATE_DIR = "/var/lib/lostops/app"  # salt/app/parameters (state_dir)
ROLLOUT_LOG = "/var/log/lostops/app-rollout.log"


def _wrapper(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(scope="module")
def rehearsal(lab, salt_env, converged):
    """The deploy job's environment, with every ssh bound to the internet address."""
    real_ssh, real_scp = shutil.which("ssh"), shutil.which("scp")
    assert real_ssh and real_scp, "ssh/scp not found"
    bindir = Path(tempfile.mkdtemp(prefix="lostops-rehearsal-bin-"))
    _wrapper(bindir / "ssh", f'exec {shlex.quote(real_ssh)} -o BindAddress={SOURCE} "$@"')
    _wrapper(bindir / "scp", f'exec {shlex.quote(real_scp)} -o BindAddress={SOURCE} "$@"')
    for tool in ("pipenv", "npm"):
        _wrapper(bindir / tool, f'echo "release rehearsal: {tool} must not run (deps-deploy is done)" >&2; exit 97')
    real_make = shutil.which("make")
    _wrapper(
        bindir / "make",
        f'exec {shlex.quote(real_make)} -o {MAKE_VENV}/.synced-deploy -o node_modules/.synced "$@"',
    )
    env = dict(salt_env)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "APP_DIGEST", "FORCE", "APP_VERSION"):
        env.pop(k, None)
    env.update(
        {
            "PATH": f"{bindir}:{env['PATH']}",
            "LOSTOPS_JIT_IP": SOURCE,
            "LOSTOPS_JIT_CHANNEL": "exec",
            "LOSTOPS_JIT_EXEC": f"{shlex.quote(sys.executable)} -m tests.lab.labctl exec {{host}} --",
            # the runner is another machine: its own ssh masters, never the admin's (a control
            # socket would carry the runner's salt-ssh past BindAddress and the firewall)
            "LOSTOPS_SSH_CONTROL_DIR": str(labenv.LAB_DIR / "ssh" / "runner"),
        }
    )
    raw_out = labenv.REPO / "salt-apply.json"
    had_raw = raw_out.exists()
    yield {"env": env, "bindir": bindir, "lab": lab, "salt_env": salt_env}
    shutil.rmtree(bindir, ignore_errors=True)
    if not had_raw:  # release rollout's raw salt output (release-cleanup's job in CI)
        raw_out.unlink(missing_ok=True)


def make(rh: dict, target: str, *args: str, timeout: float = 900, **env) -> subprocess.CompletedProcess:
    """`make --no-print-directory <target>` as the workflow runs it (inputs in the environment)."""
    e = dict(rh["env"])
    e.update(env)
    argv = [
        "make",
        "--no-print-directory",
        "-o",
        f"{MAKE_VENV}/.synced-deploy",
        "-o",
        "node_modules/.synced",
        target,
        *args,
    ]
    t0 = time.monotonic()
    r = subprocess.run(argv, cwd=labenv.REPO, env=e, capture_output=True, text=True, timeout=timeout)
    r.seconds = time.monotonic() - t0
    log = labenv.LAB_DIR / "rehearsal"
    log.mkdir(parents=True, exist_ok=True)
    (log / f"{time.strftime('%H%M%S')}-{target}.log").write_text(
        f"{argv} env: { {k: v for k, v in env.items()} }\nexit {r.returncode} in {r.seconds:.1f} s\n"
        f"--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}\n"
    )
    for tool in ("pipenv", "npm"):
        assert f"{tool} must not run" not in r.stderr, f"make {target} tried to run {tool}"
    return r


def ssh_from_internet(rh: dict, host: str) -> subprocess.CompletedProcess:
    """`ssh lostops@<host> true` from 10.77.0.200 (the database through the backend)."""
    args = rh["lab"].ssh_args(host, connect_timeout=3)
    argv = [str(rh["bindir"] / "ssh"), "-o", "ControlMaster=no", *args[1:], "true"]
    return subprocess.run(argv, env=rh["env"], capture_output=True, text=True, timeout=60)


def reach(rh: dict) -> dict[str, str]:
    """host -> "ok" or ssh's last error line, for every host at once (a refused one waits its 3 s connect timeout)."""

    def one(h: str) -> str:
        r = ssh_from_internet(rh, h)
        return "ok" if r.returncode == 0 else (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]

    with ThreadPoolExecutor(len(labenv.HOSTS)) as pool:
        return dict(zip(labenv.HOSTS, pool.map(one, labenv.HOSTS), strict=True))


def set_elements(rh: dict, host: str) -> list[str]:
    r = rh["lab"].exec(host, "nft -j list set inet lostops jit_ssh", timeout=60)
    assert r.returncode == 0, f"{host}: nft list set jit_ssh failed: {r.stderr.strip()}"
    from lostops.jit import parse_set_elements

    return parse_set_elements(r.stdout)


def exec_out(rh: dict, host: str, cmd: str) -> str:
    r = rh["lab"].exec(host, cmd, timeout=120)
    assert r.returncode == 0, f"{host}: {cmd!r} failed (exit {r.returncode}): {r.stderr.strip()}"
    return r.stdout.strip()


def logins_since(rh: dict, host: str, since: float) -> list[str]:
    """Source addresses of sshd's accepted logins on `host` since `since` (epoch seconds)."""
    out = exec_out(
        rh,
        host,
        f"journalctl -u ssh.service --since @{int(since)} -o cat --no-pager | grep 'Accepted publickey' || true",
    )
    return [line.split(" from ", 1)[1].split()[0] for line in out.splitlines() if " from " in line]


def serving(rh: dict) -> str:
    r = subprocess.run(
        [str(labenv.VENV / "bin" / "lostops"), "jit", "serving-version"],
        cwd=labenv.REPO,
        env=rh["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, f"lostops jit serving-version failed: {r.stderr.strip()}"
    return r.stdout.strip()


def short(reach_result: dict[str, str]) -> str:
    """The distinct ssh errors, without the "connect to host ..." prefix."""
    return "; ".join(sorted({v.rsplit(": ", 1)[-1] for v in reach_result.values()}))


def lines(text: str, *needles: str) -> list[str]:
    return [line for line in text.splitlines() if any(n in line for n in needles)]


def ensure_open(rh: dict) -> bool:
    """SSH from SOURCE allowed (jit_ssh has it on every JIT target): `make release-access-open`
    unless it is so already. True when this call opened it."""
    if all(set_elements(rh, h) == [SOURCE] for h in DIRECT):
        return False
    r = make(rh, "release-access-open")
    assert r.returncode == 0, f"make release-access-open (precondition): exit {r.returncode}: {r.stderr.strip()[-600:]}"
    elements = {h: set_elements(rh, h) for h in DIRECT}
    assert all(v == [SOURCE] for v in elements.values()), f"jit_ssh after the precondition's open: {elements}"
    return True


def ensure_closed(rh: dict) -> None:
    """No jit_ssh element on any JIT target: `make release-access-close` unless it is so already."""
    if all(set_elements(rh, h) == [] for h in DIRECT):
        return
    r = make(rh, "release-access-close")
    assert r.returncode == 0, (
        f"make release-access-close (precondition): exit {r.returncode}: {r.stderr.strip()[-600:]}"
    )
    elements = {h: set_elements(rh, h) for h in DIRECT}
    assert all(v == [] for v in elements.values()), f"jit_ssh after the precondition's close: {elements}"


def next_version(rh: dict, serving_version: str) -> str:
    """The next minor version after the serving one whose migrations never ran on this lab.

    The roll-out must run the migration one-shot (step 3 checks its marker is
    newer than the backup): a version an earlier test rolled out already (e.g.
    test_06's 1.1.0 when the backend still serves 1.0.x) is skipped."""
    major, minor, _ = (int(x) for x in serving_version.split("."))
    markers = set(exec_out(rh, "backend", f"ls -1 {STATE_DIR} 2>/dev/null || true").split())
    minor += 1
    while f"migrated-{major}.{minor}.0" in markers:
        minor += 1
    return f"{major}.{minor}.0"


@pytest.fixture
def access_open(rehearsal):
    """SSH from SOURCE is allowed: left so by the open step (2) in file order, opened here when alone."""
    ensure_open(rehearsal)


@pytest.fixture
def access_closed(rehearsal):
    """No access is left open: so after the close step (4) in file order or after a converge, closed here otherwise."""
    ensure_closed(rehearsal)


WORKFLOWS = labenv.REPO / ".github" / "workflows"
TAG_REASON = "lab: the lab image is built here and has no registry digest"


def _upload(env: dict) -> int:
    """actions/upload-artifact's lab equivalent: keep the files under .lab/rehearsal/artifacts."""
    dest = labenv.LAB_DIR / "rehearsal" / "artifacts"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("rollout.log", "trivy-report.json"):
        src = labenv.REPO / name
        if src.exists():
            shutil.copy2(src, dest / name)
    return 0


def _inventory_check(env: dict) -> int:
    r = subprocess.run(
        [str(labenv.VENV / "bin" / "lostops"), "inventory", "check"], cwd=labenv.REPO, env=env, timeout=120
    )
    return r.returncode


def _no_network_drift(env: dict) -> int:
    """drift-network's lab equivalent: the inventory check, and a cdktf diff log saying so."""
    rc = _inventory_check(env)
    (labenv.REPO / "cdktf-diff.log").write_text(
        "lab: no Azure network stack to diff (the lab's network is its bridge and the hosts' nftables)\nNo changes.\n"
    )
    return rc


# What stands in for each step that needs GitHub or Azure (named in the summary).
LAB_USES = {
    "actions/create-github-app-token": workflow.Substitute("lab: no GitHub App (the repositories are local)"),
    "actions/checkout": workflow.Substitute("lab: the working tree is the checkout"),
    "actions/setup-python": workflow.Substitute("lab: the project venv's Python"),
    "actions/setup-node": workflow.Substitute("lab: node on PATH, node_modules installed"),
    "hashicorp/setup-terraform": workflow.Substitute("lab: no terraform (no Azure network stack)"),
    "azure/login": workflow.Substitute("lab: no Azure login; the out-of-band channel is labctl exec (nsenter)"),
    "actions/upload-artifact": workflow.Substitute("lab: the files are kept in .lab/rehearsal/artifacts", _upload),
}
LAB_TARGETS = {
    "deps-deploy": workflow.Substitute("lab: deps-deploy done (the venv and node_modules exist)"),
    "release-network": workflow.Substitute(
        "lab: no Azure network stack (cdktf deploy); `lostops inventory check`; the roster uses ssh_address",
        _inventory_check,
    ),
    "drift-network": workflow.Substitute(
        "lab: no Azure network stack to diff; `lostops inventory check`, cdktf-diff.log says No changes",
        _no_network_drift,
    ),
}
LAB_STEPS = {
    "The scanned digest is known": workflow.Substitute(
        f"lab: no registry digest; the roll-out deploys the tag (RELEASE_TAG_WITHOUT_DIGEST={TAG_REASON!r})"
    ),
}


def contexts(rh: dict, job_run: str, version: str = "", force: str = "false") -> tuple[dict, dict]:
    """(contexts, runner environment) of a run of the workflow in the lab."""
    from lostops import secrets as secrets_mod

    tmp = Path(tempfile.mkdtemp(prefix="lostops-runner-temp-"))
    values = secrets_mod.read(labenv.SECRETS_FILE)
    secrets = {secrets_mod.env_name(k): str(v) for k, v in values.items()}
    secrets["LOSTOPS_SSH_PRIVATE_KEY"] = Path(rh["lab"].key).read_text()
    ctx = {
        "github": {
            "repository": "lostops-stg5/lostops",
            "repository_owner": "lostops-stg5",
            "sha": subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=labenv.REPO, capture_output=True, text=True
            ).stdout.strip(),
            "run_id": job_run,
            "run_attempt": "1",
            "event_name": "release",
            "actor": "lab",
            "token": "",
            "server_url": "https://github.com",
        },
        "vars": {"LOSTOPS_INVENTORY": "lab"},
        "secrets": secrets,
        "needs": {
            "prepare": {"outputs": {"version": version, "force": force, "digest": ""}},
            "build": {"outputs": {"digest": ""}},
        },
        "runner": {"temp": str(tmp), "os": "Linux", "arch": "X64"},
        "inputs": {},
    }
    env = dict(rh["env"])
    env.update(
        {
            "RUNNER_TEMP": str(tmp),
            "GITHUB_RUN_ID": job_run,
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_WORKSPACE": str(labenv.REPO),
            # the workflow's release-secrets step writes here (the pillar reads it)
            "LOSTOPS_SECRETS_FILE": str(tmp / "secrets.yaml"),
            "RELEASE_TAG_WITHOUT_DIGEST": TAG_REASON,
        }
    )
    return ctx, env


def step_lines(run: workflow.JobRun) -> str:
    """One clause per step of the file: its name and what ran for it."""
    out = []
    for s in run.steps:
        if s.kind == "skipped":
            out.append(f"[{s.index + 1}] {s.name}: skipped (if: false)")
        elif s.kind == "lab":
            out.append(f"[{s.index + 1}] {s.name}: {s.what} ({s.outcome})")
        else:
            what = f"make {s.what}" if s.what and " " not in s.what else s.what
            out.append(f"[{s.index + 1}] {s.name}: ran `{what}` ({s.outcome}, {s.seconds:.1f} s)")
    return "; ".join(out)


@pytest.fixture(scope="module")
def rollout(rehearsal):
    """The deploy job of release.yml, executed from the file, once per module, for a new
    version (next_version) starting with access closed, as a real run starts. Step 3 checks
    it, step 6 needs the version it deployed. Checks between steps (after the open step:
    the runner's element and SSH; after the close: none) are recorded by a hook."""
    rh = rehearsal
    ensure_closed(rh)
    before = serving(rh)
    new = next_version(rh, before)
    t_start = time.time()
    ctx, env = contexts(rh, f"lab-deploy-{int(t_start)}", version=new)
    seen: dict = {}

    def after(sr: workflow.StepResult, c: dict) -> None:
        if "release-access-open" in sr.what and sr.outcome == "success":
            seen["open"] = ({h: set_elements(rh, h) for h in DIRECT}, reach(rh))
        if "release-access-close" in sr.what:
            seen["close"] = {h: set_elements(rh, h) for h in DIRECT}
        if "release-secrets" in sr.what:
            key = Path(c["runner"]["temp"]) / "lostops-ssh-key"
            seen["key"] = (key.exists(), oct(key.stat().st_mode & 0o777) if key.exists() else None)

    run = workflow.run_job(
        WORKFLOWS / "release.yml",
        "deploy",
        ctx,
        env,
        labenv.REPO,
        LAB_USES,
        LAB_TARGETS,
        after=after,
        log_dir=labenv.LAB_DIR / "rehearsal" / "deploy",
        names=LAB_STEPS,
    )
    shutil.rmtree(ctx["runner"]["temp"], ignore_errors=True)
    return {"old": before, "new": new, "t_start": t_start, "run": run, "seen": seen, "key_dir": ctx["runner"]["temp"]}


# --------------------------------------------------------------------------- (1)
@pytest.mark.summary("rehearsal 1 before")
def test_ssh_refused_before_open(rehearsal):
    rh = rehearsal
    for h in DIRECT:
        assert set_elements(rh, h) == [], f"{h}: jit_ssh is not empty before the rehearsal"
    probe = probes.probe_local([("tcp", labenv.host_ip(h), 22) for h in DIRECT], SOURCE)
    got = reach(rh)
    assert all(v == "timeout" for v in probe.values()), f"TCP to port 22 from {SOURCE}: {probe}"
    assert all(v != "ok" for v in got.values()), f"ssh from {SOURCE} got in before the open step: {got}"
    SUMMARY.ok(
        "rehearsal 1 before",
        f"from {SOURCE} (not an admin source) SSH is refused: TCP 22 of "
        + ", ".join(f"{h} {probe[f'tcp/{labenv.host_ip(h)}:22']}" for h in DIRECT)
        + f"; ssh to all {len(got)} hosts fails ({short(got)})",
    )


# --------------------------------------------------------------------------- (2)
@pytest.mark.summary("rehearsal 2 open")
def test_open_grants_ssh(rehearsal):
    rh = rehearsal
    r = make(rh, "release-access-open")
    assert r.returncode == 0, f"make release-access-open: exit {r.returncode}: {r.stderr.strip()[-600:]}"
    assert len(lines(r.stdout, "NSG step skipped")) == len(DIRECT), r.stdout
    elements = {h: set_elements(rh, h) for h in DIRECT}
    assert all(v == [SOURCE] for v in elements.values()), f"jit_ssh after open: {elements}"
    ttl = exec_out(rh, "backend", "nft list set inet lostops jit_ssh | grep -o 'timeout [0-9][0-9hms]*' | head -1")
    got = reach(rh)
    assert all(v == "ok" for v in got.values()), f"ssh from {SOURCE} after the open step: {got}"
    SUMMARY.ok(
        "rehearsal 2 open",
        f"make release-access-open ({r.seconds:.1f} s): NSG step skipped (channel exec), "
        f"jit_ssh = {{{SOURCE}}} on {', '.join(DIRECT)} ({ttl}); ssh from {SOURCE} now reaches all 3 hosts",
    )


# --------------------------------------------------------------------------- (3)
@pytest.mark.summary("rehearsal 3 roll-out")
def test_rollout_from_the_internet_address(rehearsal, rollout):
    rh = rehearsal
    before, new, t_start = rollout["old"], rollout["new"], rollout["t_start"]
    run: workflow.JobRun = rollout["run"]
    failed = [f"{s.name}: {(s.stderr.strip().splitlines() or ['?'])[-1]}" for s in run.steps if s.outcome == "failure"]
    assert not failed, f"deploy job steps failed: {failed}\n{step_lines(run)}\n{run.summary}"
    # every step of the file was visited, in the file's order
    file_steps = workflow.load_job(WORKFLOWS / "release.yml", "deploy")[1]["steps"]
    assert [s.name for s in run.steps] == [workflow.step_name(s) for s in file_steps]
    ran = [s.what for s in run.steps if s.kind == "run"]
    for target in (
        "release-guard",
        "release-access-open",
        "release-secrets",
        "release-rollout",
        "release-access-close",
        "release-cleanup",
    ):
        assert target in ran, f"{target} did not run from the file: {ran}"
    guard, r = run.step("release-guard"), run.step("release-rollout")
    elements, got = rollout["seen"]["open"]
    assert all(v == [SOURCE] for v in elements.values()), f"jit_ssh after the workflow's open step: {elements}"
    assert all(v == "ok" for v in got.values()), f"ssh from {SOURCE} after the workflow's open step: {got}"
    assert rollout["seen"]["key"] == (True, "0o600"), f"SSH key from release-secrets: {rollout['seen']['key']}"
    assert all(v == [] for v in rollout["seen"]["close"].values()), f"jit_ssh after close: {rollout['seen']['close']}"
    assert not Path(rollout["key_dir"], "lostops-ssh-key").exists()
    out = r.stdout.splitlines()
    i_backup = next((i for i, line in enumerate(out) if "release-rollout: backup:" in line), None)
    i_apply = next((i for i, line in enumerate(out) if "release-rollout: salt-ssh '*' state.apply" in line), None)
    assert i_backup is not None and "finished" in out[i_backup], f"no fresh backup reported:\n{r.stdout}"
    assert i_apply is not None and i_backup < i_apply, f"backup not before the apply:\n{r.stdout}"

    # the backup file, then the migration marker, then the new container
    backups = exec_out(
        rh,
        "database",
        f"find {BACKUP_DIR} -maxdepth 1 -name 'all-databases-*.sql.gz' -newermt @{int(t_start) - 1} "
        "-printf '%T@ %s %f\\n' | sort -n",
    ).splitlines()
    assert backups, f"no backup file written in {BACKUP_DIR} since the roll-out started"
    b_time, b_size, b_name = backups[-1].split()
    marker = f"{STATE_DIR}/migrated-{new}"
    m_time = exec_out(rh, "backend", f"stat -c %.9Y {marker}")
    assert float(b_time) < float(m_time), f"backup {b_name} ({b_time}) is not older than {marker} ({m_time})"
    migration_log = exec_out(rh, "backend", f"grep -c 'running migrations of {new}' {ROLLOUT_LOG} || true")
    assert migration_log not in ("", "0"), f"{ROLLOUT_LOG} has no migration run of {new}"
    deployed = exec_out(rh, "backend", f"cat {STATE_DIR}/deployed-version")
    assert deployed == new, f"deployed-version is {deployed!r}, not {new}"
    cs = json.loads(
        exec_out(
            rh,
            "backend",
            "ids=$(docker ps -aq --filter label=lostops.app.managed=true); "
            "[ -z \"$ids\" ] && echo '[]' || docker inspect $ids",
        )
    )
    versions = [((c["Config"].get("Labels") or {}).get("lostops.app.version"), c["State"]["Status"]) for c in cs]
    healthy = [(c["State"].get("Health") or {}).get("Status") for c in cs]
    assert versions == [(new, "running")] and healthy == ["healthy"], f"app containers: {versions} {healthy}"

    # every login of the roll-out came from the internet address
    logins = {h: logins_since(rh, h, t_start) for h in labenv.HOSTS}
    for h in DIRECT:
        assert logins[h] and set(logins[h]) == {SOURCE}, f"{h}: logins since the roll-out started from {logins[h]}"
    assert logins["database"] and set(logins["database"]) == {labenv.host_ip("backend")}, (
        f"database: logins from {logins['database']} (expected only through the backend)"
    )
    SUMMARY.ok(
        "rehearsal deploy job", f"release.yml job deploy, {len(run.steps)} steps from the file: {step_lines(run)}"
    )
    SUMMARY.ok(
        "rehearsal 3 roll-out",
        f"release.yml deploy job: guard ({guard.stdout.strip().splitlines()[-1]}), open (jit_ssh = {{{SOURCE}}}, ssh "
        f"to all 3 hosts), release-rollout APP_VERSION={new} "
        f"({r.seconds:.0f} s, exit 0): fresh backup {b_name} ({b_size} B), then the migration one-shot "
        f"(marker migrated-{new} {float(m_time) - float(b_time):.1f} s later), {before} -> {new} "
        f"healthy, old container removed; close: jit_ssh empty; sshd logins: "
        + ", ".join(f"{h} {len(v)}x from {'/'.join(sorted(set(v)))}" for h, v in logins.items()),
    )


def assert_shut(rh, when: str) -> dict:
    """SSH from the runner's address is refused on every host and release-access-check is clean; reach()."""
    got = reach(rh)
    assert all(v != "ok" for v in got.values()), f"ssh from {SOURCE} still gets in {when}: {got}"
    check = make(rh, "release-access-check")
    assert check.returncode == 0 and "None: no NSG rule" in check.stdout, (
        f"make release-access-check {when}: exit {check.returncode}\n{check.stdout}{check.stderr}"
    )
    return got


# --------------------------------------------------------------------------- (4)
@pytest.mark.summary("rehearsal 4 close")
def test_close_removes_access(rehearsal, access_open):
    rh = rehearsal
    r = make(rh, "release-access-close")
    assert r.returncode == 0, f"make release-access-close: exit {r.returncode}: {r.stderr.strip()[-600:]}"
    elements = {h: set_elements(rh, h) for h in DIRECT}
    assert all(v == [] for v in elements.values()), f"jit_ssh after close: {elements}"
    got = assert_shut(rh, "after close")
    SUMMARY.ok(
        "rehearsal 4 close",
        f"make release-access-close ({r.seconds:.1f} s): jit_ssh empty on {', '.join(DIRECT)}; ssh from {SOURCE} "
        f"refused again ({short(got)}); "
        "make release-access-check: clean (exit 0)",
    )


# --------------------------------------------------------------------------- (5)
@pytest.mark.summary("rehearsal 5 expiry")
def test_element_left_behind_expires(rehearsal, access_closed):
    rh = rehearsal
    t_open = time.monotonic()
    r = make(rh, "release-access-open", LOSTOPS_JIT_TTL="5s")
    assert r.returncode == 0, f"make release-access-open (5s): exit {r.returncode}: {r.stderr.strip()[-600:]}"
    elements = {h: set_elements(rh, h) for h in DIRECT}
    left_s = time.monotonic() - t_open
    # the job "dies" here: no close step
    if left_s < 5:
        assert all(v == [SOURCE] for v in elements.values()), f"jit_ssh after the 5s open: {elements}"
    left = make(rh, "release-access-check")
    check_s = time.monotonic() - t_open
    if check_s < 4:  # under heavy load the check may finish after the expiry: then it proves nothing here
        assert left.returncode != 0 and SOURCE in left.stdout, f"the leftover is not reported:\n{left.stdout}"
        reported = f"release-access-check reported {len(lines(left.stdout, 'still has'))} leftover(s) (make exit {left.returncode})"
    else:
        reported = f"release-access-check took until {check_s:.1f} s (not counted)"

    def expired():
        return all(set_elements(rh, h) == [] for h in DIRECT)

    assert probes.wait_for(expired, 30, 0.5), (
        f"jit_ssh elements did not expire: {[set_elements(rh, h) for h in DIRECT]}"
    )
    gone_s = time.monotonic() - t_open
    assert_shut(rh, "after the expiry")
    SUMMARY.ok(
        "rehearsal 5 expiry",
        f"open with LOSTOPS_JIT_TTL=5s and no close: {reported}; "
        f"the elements expired by themselves within {gone_s:.1f} s of the open; "
        "ssh refused, release-access-check clean",
    )


# --------------------------------------------------------------------------- (6)
@pytest.mark.summary("rehearsal 6 guard")
def test_older_version_refused_unless_forced(rehearsal, rollout):
    rh = rehearsal
    now, older = serving(rh), rollout["old"]
    assert now == rollout["new"], f"serving {now!r}, expected {rollout['new']} (the rehearsal's roll-out)"
    refused = make(rh, "release-guard", APP_VERSION=older, FORCE="false")
    assert refused.returncode != 0, f"release-guard allowed {older} over {now}: {refused.stdout}"
    msg = (lines(refused.stderr, "release-guard:") or [""])[-1]
    assert "refused" in msg and f"older than the serving {now}" in msg, refused.stderr
    assert "Error 3" in refused.stderr, f"lostops release guard did not exit 3: {refused.stderr}"
    same = make(rh, "release-guard", APP_VERSION=now, FORCE="false")
    assert same.returncode == 0, f"redeploy of {now} refused: {same.stderr}"
    forced = make(rh, "release-guard", APP_VERSION=older, FORCE="true")
    assert forced.returncode == 0, f"FORCE=true still refused: {forced.stderr}"
    assert "(forced)" in forced.stdout, forced.stdout
    SUMMARY.ok(
        "rehearsal 6 guard",
        f"serving {now}: make release-guard APP_VERSION={older} refused (guard exit 3: "
        f"{msg.split(': ', 1)[-1]}); {now} allowed (redeploy); FORCE=true allowed: "
        f"{forced.stdout.strip().splitlines()[-1]}",
    )


# --------------------------------------------------------------------------- (7)
@pytest.mark.summary("rehearsal 7 drift job")
def test_drift_job_from_the_file_reports_a_cancelled_runs_leftover_and_cleans_it(rehearsal, rollout, access_closed):
    """The drift job of drift.yml, executed from the file, after a deploy job that "was
    cancelled" after its open step (an element left, no close): the drift check reports the
    leftover BEFORE it opens anything of its own, its own run then closes the runner's
    address, the check after the close is clean, and the report fails on the leftover."""
    rh = rehearsal
    cancelled = make(rh, "release-access-open", LOSTOPS_JIT_TTL="10m")  # the cancelled run's open
    assert cancelled.returncode == 0, f"open of the cancelled run: {cancelled.stderr.strip()[-400:]}"
    assert all(set_elements(rh, h) == [SOURCE] for h in DIRECT)
    ctx, env = contexts(rh, f"lab-drift-{int(time.time())}")
    seen: dict = {}

    def after(sr: workflow.StepResult, c: dict) -> None:
        if "release-access-close" in sr.what:
            seen["close"] = {h: set_elements(rh, h) for h in DIRECT}

    run = workflow.run_job(
        WORKFLOWS / "drift.yml",
        "drift",
        ctx,
        env,
        labenv.REPO,
        LAB_USES,
        LAB_TARGETS,
        after=after,
        log_dir=labenv.LAB_DIR / "rehearsal" / "drift",
        names=LAB_STEPS,
    )
    shutil.rmtree(ctx["runner"]["temp"], ignore_errors=True)
    file_steps = workflow.load_job(WORKFLOWS / "drift.yml", "drift")[1]["steps"]
    assert [s.name for s in run.steps] == [workflow.step_name(s) for s in file_steps]
    before = run.step("drift-leftovers")
    assert before.outcome == "success", before.stderr
    assert f"host `backend`: nftables set `jit_ssh` still has `{SOURCE}`" in before.stdout, before.stdout
    i_before = run.steps.index(before)
    i_open = run.steps.index(run.step("release-access-open"))
    assert i_before < i_open, "leftovers must be reported before this run opens anything"
    hosts = run.step("drift-hosts")
    assert hosts.outcome == "success" and "drift-hosts: salt-ssh exited" in hosts.stdout, hosts.stdout + hosts.stderr
    assert all(v == [] for v in seen["close"].values()), f"jit_ssh after the drift job's close: {seen['close']}"
    report = run.step("drift-report")
    assert report.outcome == "failure", "the leftover found before the run is drift: the report must fail"
    assert "## Just-in-time SSH leftovers before this run" in run.summary
    after_section = run.summary.split("## Just-in-time SSH leftovers before this run", 1)[1]
    assert "None: no NSG rule" in after_section.split("## Just-in-time SSH leftovers", 1)[1], run.summary
    cleanup = run.step("release-cleanup")
    assert cleanup.outcome == "success" and not (labenv.REPO / "salt-test.json").exists()
    # the salt part of the report: one row per minion (| minion | states | failed | would change |)
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in run.summary.splitlines()
        if re.match(r"\|\s*(backend|database|monitoring)\s*\|", line)
    ]
    assert sorted(r[0] for r in rows) == sorted(labenv.HOSTS), f"salt test=True rows: {rows}\n{run.summary}"
    assert all(r[2] == "0" for r in rows), f"failed states in the drift check: {rows}\n{run.summary}"
    salt_lines = [f"{r[0]} {r[1]} states, {r[2]} failed, {r[3]} would change" for r in rows]
    SUMMARY.ok("rehearsal drift job", f"drift.yml job drift, {len(run.steps)} steps from the file: {step_lines(run)}")
    SUMMARY.ok(
        "rehearsal 7 drift job",
        f"a cancelled run's element ({SOURCE}, 10m) was reported by drift-leftovers before the drift job opened "
        f"anything; the job's own close emptied jit_ssh; the after-check is clean; drift-report failed on the "
        f"leftover (exit 1) as it must; salt test=True: {'; '.join(salt_lines)}",
    )


# --------------------------------------------------------------------------- (8)
@pytest.mark.summary("rehearsal 8 ruleset change")
def test_ruleset_change_during_an_open_window_keeps_the_runner(rehearsal, rollout, access_open):
    """A roll-out whose firewall state reloads the ruleset (the file differs on the hosts)
    while the runner's element is in jit_ssh: Salt's loader keeps the element, so the new
    SSH connections after it (the database through the backend) still get in."""
    rh = rehearsal
    version = serving(rh)
    for h in DIRECT:  # what a changed inventory would do: the file on the host differs
        exec_out(rh, h, "echo '# changed under a rehearsal' >> /etc/nftables.conf")
    r = make(
        rh,
        "release-rollout",
        APP_VERSION=version,
        APP_DIGEST="",
        RELEASE_BACKUP="false",
        RELEASE_TAG_WITHOUT_DIGEST=TAG_REASON,
    )
    assert r.returncode == 0, f"make release-rollout (redeploy {version}): exit {r.returncode}\n{r.stderr[-1500:]}"
    from lostops.drift import iter_documents

    applied: dict = {}
    for doc in iter_documents((labenv.REPO / "salt-apply.json").read_text()):  # one document per minion
        if isinstance(doc, dict):
            applied.update(doc)
    states = {h: applied.get(h) or {} for h in DIRECT}
    states = {h: v.get("return", v) if isinstance(v, dict) else {} for h, v in states.items()}
    reloaded = {h: next((v for k, v in states[h].items() if "firewall-ruleset-load-cmd-run" in k), {}) for h in DIRECT}
    for h, ret in reloaded.items():
        assert ret.get("result") is True and ret.get("changes"), f"{h}: the ruleset was not reloaded: {ret}"
        assert "jit_ssh kept: " + SOURCE in json.dumps(ret.get("changes")), f"{h}: loader output {ret.get('changes')}"
    elements = {h: set_elements(rh, h) for h in DIRECT}
    assert all(v == [SOURCE] for v in elements.values()), f"jit_ssh after the reload: {elements}"
    # a NEW connection after the reload: the database through the backend
    t0 = time.monotonic()
    ping = subprocess.run(
        [*labenv.SALT_SSH, "--out=json", "database", "test.ping"],
        cwd=labenv.REPO,
        env=rh["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ping.returncode == 0 and '"database": true' in ping.stdout.replace("\n", " ").replace("  ", " "), (
        f"salt-ssh database test.ping from {SOURCE} after the reload: exit {ping.returncode}\n"
        f"{ping.stdout[-800:]}{ping.stderr[-800:]}"
    )
    SUMMARY.ok(
        "rehearsal 8 ruleset change",
        f"redeploy of {version} with /etc/nftables.conf changed on {', '.join(DIRECT)}: the firewall state "
        f"reloaded the ruleset through the loader ({r.seconds:.0f} s, exit 0), jit_ssh still = {{{SOURCE}}}; a new "
        f"salt-ssh connection to the database through the backend after it: test.ping true "
        f"({time.monotonic() - t0:.1f} s)",
    )


# --------------------------------------------------------------------------- (9)
@pytest.mark.summary("rehearsal 9 close past a failure")
def test_close_with_one_host_failing_still_closes_the_others(rehearsal, access_open):
    """The out-of-band channel fails for the backend only (as a VM agent that does not
    answer): close still removes the monitoring host's element, names what is left, and
    its exit code says a set element is left (6); a later close finishes the job."""
    rh = rehearsal
    failing = (
        f'sh -c \'test {{host}} != backend || {{ echo "VM agent not responding" >&2; exit 9; }}; '
        f'exec {shlex.quote(sys.executable)} -m tests.lab.labctl exec {{host}} -- "$1"\' sh {{script}}'
    )
    r = make(rh, "release-access-close", LOSTOPS_JIT_EXEC=failing)
    elements = {h: set_elements(rh, h) for h in DIRECT}
    assert r.returncode != 0 and "Error 6" in r.stderr, f"exit: {r.returncode}\n{r.stderr}"
    failed = lines(r.stderr, "jit close: FAILED: ")
    assert len(failed) == 1 and failed[0].startswith("jit close: FAILED: backend: firewall set jit_ssh:"), r.stderr
    assert "jit close: left open: set element(s) (exit 6)" in r.stderr
    assert elements == {"backend": [SOURCE], "monitoring": []}, f"jit_ssh after the partial close: {elements}"
    again = make(rh, "release-access-close")
    assert again.returncode == 0, again.stderr
    assert all(set_elements(rh, h) == [] for h in DIRECT)
    SUMMARY.ok(
        "rehearsal 9 close past a failure",
        f"channel failing for backend: release-access-close still removed monitoring's element, said "
        f"'{failed[0][:90]}…' and exited 6 (a set element left); a second close removed the rest",
    )


# --------------------------------------------------------------------------- (10)
SECOND = "10.77.0.201"  # a second runner on the "internet" side (added for this test only)


@pytest.mark.summary("rehearsal 10 overlapping runs")
def test_overlapping_runs_do_not_remove_each_others_access(rehearsal, access_closed):
    """A deploy called from the app repository and the drift check here are in different
    concurrency groups and can overlap: each opens and closes only its own address (and, on
    Azure, its own NSG rule lostops-jit-ssh-<run>, unit-tested): the second run's close
    leaves the first run's access in place."""
    from tests.lab import settings

    rh = rehearsal
    subprocess.run(
        ["ip", "addr", "add", f"{SECOND}/{settings.BRIDGE_CIDR}", "dev", settings.BRIDGE], check=True, timeout=30
    )
    try:
        a = make(rh, "release-access-open", LOSTOPS_JIT_RUN="lab-deploy-a")
        b = make(rh, "release-access-open", LOSTOPS_JIT_RUN="lab-drift-b", LOSTOPS_JIT_IP=SECOND)
        assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
        both = {h: set_elements(rh, h) for h in DIRECT}
        assert all(v == sorted([SOURCE, SECOND]) for v in both.values()), f"jit_ssh with both runs open: {both}"
        tcp = [("tcp", labenv.host_ip(h), 22) for h in DIRECT]
        assert all(v == "connected" for v in probes.probe_local(tcp, SECOND).values())
        closed_b = make(rh, "release-access-close", LOSTOPS_JIT_RUN="lab-drift-b", LOSTOPS_JIT_IP=SECOND)
        assert closed_b.returncode == 0, closed_b.stderr
        left = {h: set_elements(rh, h) for h in DIRECT}
        assert all(v == [SOURCE] for v in left.values()), f"jit_ssh after the second run's close: {left}"
        got = reach(rh)
        assert all(v == "ok" for v in got.values()), f"the first run lost its access: {got}"
        second = probes.probe_local(tcp, SECOND)
        assert all(v == "timeout" for v in second.values()), f"the second run still gets in: {second}"
        closed_a = make(rh, "release-access-close", LOSTOPS_JIT_RUN="lab-deploy-a")
        assert closed_a.returncode == 0 and all(set_elements(rh, h) == [] for h in DIRECT)
    finally:
        subprocess.run(
            ["ip", "addr", "del", f"{SECOND}/{settings.BRIDGE_CIDR}", "dev", settings.BRIDGE],
            capture_output=True,
            timeout=30,
        )
        ensure_closed(rh)
    SUMMARY.ok(
        "rehearsal 10 overlapping runs",
        f"run A ({SOURCE}) and run B ({SECOND}) open at once: jit_ssh holds both; B's close left A's element, "
        f"A still reached all 3 hosts over ssh while B's TCP 22 timed out; A's close emptied the set",
    )
