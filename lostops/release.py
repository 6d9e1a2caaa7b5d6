"""The release workflow's decisions and its deploy step.

- :func:`plan` (`lostops release plan`): from the workflow's event, the
  version, what to build and whether to deploy (never a pre-release).
- :func:`decide` (`lostops release guard`): refuse a version older than the
  one serving, unless forced.
- :func:`rollout` (`lostops release rollout`): a fresh database backup, then
  `salt-ssh '*' state.apply` with the app version and the scanned digest.

Each prints one line on failure, prefixed with the old script's name
(`release-plan:`, `release-guard:`, `release-rollout:`), which the workflows
and the job summaries show.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from lostops import envcmd, gha
from lostops.version import VersionError, normalize

REPO = Path(__file__).resolve().parent.parent
VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def truthy(value: str | None, default: bool = False) -> bool:
    """ "1", "true", "yes" (any case) are true; empty or unset is `default`."""
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes")


# --- plan ---------------------------------------------------------------------------------


class PlanError(ValueError):
    pass


SHA = re.compile(r"[0-9a-f]{40}")
REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
INVENTORY_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def inventory_file(selector: str | None, repo: Path = REPO) -> Path:
    """The inventory a deploy would use (the rule of lostops.inventory.resolve_path,
    kept here because `release plan` runs with click alone, without pydantic)."""
    selector = selector or "example"
    if "/" in selector or selector.endswith((".yaml", ".yml")):
        path = Path(selector)
        return path if path.is_absolute() else repo / path
    if not INVENTORY_NAME.fullmatch(selector):
        raise PlanError(f"LOSTOPS_INVENTORY {selector[:40]!r} is not an inventory name (a-z, 0-9, -)")
    return repo / "pillar" / "inventory" / f"{selector}.yaml"


def _repository(env: dict, key: str) -> str:
    value = env.get(key, "")
    if not REPOSITORY.fullmatch(value):
        raise PlanError(f"{key} {value[:60]!r} is not owner/name")
    return value


def plan(env: dict, repo: Path = REPO) -> dict:
    """The release plan from the workflow's environment (see `lostops release plan --help`).

    Decisions:
        workflow_call      build the caller's commit; deploy unless a pre-release
        release published  build APP_REPOSITORY at the tag X.Y.Z; deploy unless a pre-release
        workflow_dispatch  no build: deploy the existing image (force allowed)
    A pre-release is built and scanned (tag X.Y.Z only, `latest` untouched)
    and never deployed. Version rules: lostops.version. The app's tags are
    X.Y.Z without a `v` (lostops-app: 1.0.2); this repository's release tag
    may be v1.4.2 or 1.4.2: the app is checked out at the normalized X.Y.Z,
    here and nowhere else. Every value that becomes a step output is checked
    (40-hex commits, owner/name repositories): a hostile input can never add
    an output line. A deploy needs the inventory LOSTOPS_INVENTORY names.
    """
    called = truthy(env.get("CALLED"))
    event = env.get("EVENT_NAME", "")
    dispatch = event == "workflow_dispatch" and not called
    raw = env.get("INPUT_VERSION", "") if (called or dispatch) else env.get("RELEASE_TAG", "")
    try:
        version = normalize(raw)
    except VersionError as exc:
        raise PlanError(str(exc)) from None
    infra_ref = env.get("INFRA_REF", "")
    if not infra_ref:
        raise PlanError("no infra ref: pass infra-ref (the commit of your `uses:` line)")
    if not SHA.fullmatch(infra_ref):
        raise PlanError(
            f"infra-ref {infra_ref[:60]!r} is not a 40-hex commit SHA (a branch or tag moves; use the commit "
            "of your `uses:` line)"
        )
    infra_repository = _repository(env, "INFRA_REPOSITORY")
    prerelease = truthy(env.get("PRERELEASE"))
    if called:
        app_repository = _repository(env, "CALLER_REPOSITORY")
        app_ref = env.get("CALLER_SHA", "")
        if not SHA.fullmatch(app_ref):
            raise PlanError(f"CALLER_SHA {app_ref[:60]!r} is not a 40-hex commit SHA")
        build = True
    elif event == "release":
        build, app_repository, app_ref = True, _repository(env, "APP_REPOSITORY"), f"refs/tags/{version}"
    elif dispatch:
        build, app_repository, app_ref = False, "", ""
    else:
        raise PlanError(f"event {event[:40]!r} does not release anything")
    deploy = not (prerelease and not dispatch)
    if deploy:
        selector = env.get("LOSTOPS_INVENTORY") or "example"
        path = inventory_file(selector, repo)
        if not path.is_file():
            raise PlanError(
                f"LOSTOPS_INVENTORY={selector[:40]}: {path.relative_to(repo) if path.is_relative_to(repo) else path} "
                "does not exist; add the production inventory (docs/releasing.md, one-time steps) or set the "
                "repository variable LOSTOPS_INVENTORY"
            )
    return {
        "version": version,
        "build": str(build).lower(),
        "deploy": str(deploy).lower(),
        # `latest` may move only for a release that is built and deployed; the
        # `latest` job moves it after the deploy, and only forward.
        "latest": str(build and deploy).lower(),
        "force": str(dispatch and truthy(env.get("INPUT_FORCE"))).lower(),
        "app-repository": app_repository,
        "app-ref": app_ref,
        "infra-repository": infra_repository,
        "infra-ref": infra_ref,
    }


def run_plan(env: dict) -> int:
    """key=value lines to stdout and $GITHUB_OUTPUT; exit 2 with one line for a bad version or infra ref."""
    try:
        result = plan(env)
        lines = gha.check_outputs(result)
    except (PlanError, gha.OutputError) as exc:
        print(f"release-plan: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(lines)
    gha.set_outputs(result)
    return 0


# --- guard --------------------------------------------------------------------------------


def parse(version: str) -> tuple[int, int, int] | None:
    m = VERSION.fullmatch(version.strip().removeprefix("v"))
    return tuple(int(x) for x in m.groups()) if m else None  # type: ignore[return-value]


def decide(version: str, serving: str, force: bool) -> tuple[bool, str]:
    """(allowed, one-line reason)."""
    new = parse(version)
    if new is None:
        raise ValueError(f"--version {version!r} is not Major.Minor.Revision")
    serving = (serving or "").strip()
    if not serving:
        return True, f"deploy {version}: nothing is serving yet (first deploy)"
    old = parse(serving)
    if old is None:
        if force:
            return True, f"deploy {version}: serving version {serving!r} is unreadable; forced"
        return False, f"refused: serving version {serving!r} is not X.Y.Z; run again with force to deploy {version}"
    if new > old:
        return True, f"deploy {version}: upgrade from {serving}"
    if new == old:
        return True, f"deploy {version}: redeploy of the serving version"
    if force:
        return True, f"deploy {version}: roll back from {serving} (forced)"
    return False, (
        f"refused: {version} is older than the serving {serving}; a roll back needs a manual run with force: true"
    )


def run_guard(version: str | None, serving: str, force: bool) -> int:
    """0 deploy (reason on stdout), 3 refused (reason on stderr), 2 bad usage."""
    if not version:
        print("release-guard: no --version (or APP_VERSION)", file=sys.stderr)
        return 2
    try:
        allowed, reason = decide(version, serving, force)
    except ValueError as exc:
        print(f"release-guard: {exc}", file=sys.stderr)
        return 2
    if allowed:
        print(reason)
        return 0
    print(f"release-guard: {reason}", file=sys.stderr)
    return 3


# --- rollout ------------------------------------------------------------------------------


def pillar(version: str, digest: str | None) -> dict:
    if not VERSION.fullmatch(version or ""):
        raise ValueError(f"version {str(version)[:40]!r} is not X.Y.Z")
    data: dict = {"app": {"version": version}}
    if digest:
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"digest {digest[:80]!r} is not sha256:<64 hex>")
        data["images"] = {"app": {"digest": digest}}
    return data


def salt_command(salt_ssh: str, version: str, digest: str | None) -> list[str]:
    return [
        *envcmd.split("SALT_SSH", salt_ssh),
        "--out=json",
        "*",
        "state.apply",
        "pillar=" + json.dumps(pillar(version, digest), separators=(",", ":"), sort_keys=True),
    ]


BACKUP_UNIT = "lostops-mysql-backup.service"
BACKUP_SCRIPT = (
    f"if systemctl cat {BACKUP_UNIT} >/dev/null 2>&1; then systemctl start {BACKUP_UNIT} && echo backup-done; "
    "else echo no-backup-unit; fi"
)


def backup_command(salt_ssh: str, host: str) -> list[str]:
    return [*envcmd.split("SALT_SSH", salt_ssh), "--out=json", host, "cmd.run_all", BACKUP_SCRIPT, "python_shell=True"]


def backup_result(output: str) -> tuple[bool, str]:
    """(ok, one line) from salt-ssh --out=json cmd.run_all output."""
    try:
        data = json.loads(output)
    except json.JSONDecodeError:
        return False, "backup: salt-ssh printed no JSON"
    ret = next(iter(data.values()), None) if isinstance(data, dict) and len(data) == 1 else None
    if isinstance(ret, dict) and "return" in ret and isinstance(ret["return"], dict):
        ret = ret["return"]
    if not isinstance(ret, dict) or "retcode" not in ret:
        return False, f"backup: unexpected salt-ssh result: {str(data)[:200]}"
    stdout = str(ret.get("stdout", ""))
    if ret["retcode"] != 0:
        last = (str(ret.get("stderr", "")).strip().splitlines() or ["no output"])[-1]
        return False, f"backup FAILED (exit {ret['retcode']}): {last[:200]}"
    if "backup-done" in stdout:
        return True, f"backup: {BACKUP_UNIT} finished"
    if "no-backup-unit" in stdout:
        return True, f"backup: no {BACKUP_UNIT} yet (the database host was never converged); nothing to back up"
    return False, f"backup: unexpected output {stdout[:200]!r}"


def database_host() -> str:
    from lostops.inventory import load

    inv = load(None)
    hosts = [name for name, host in inv.hosts.items() if host.role == "database"]
    if not hosts:
        raise ValueError("no host with role database in the inventory")
    return hosts[0]


TAG_OVERRIDE = "RELEASE_TAG_WITHOUT_DIGEST"
BOOLEAN_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "1", "0", "none", "null", "ok"}


def check_reason(reason: str | None, what: str) -> str:
    """A named override's reason: visible text of some length, not a boolean word."""
    text = "".join(c for c in (reason or "") if c.isprintable()).strip()
    if (
        text != (reason or "").strip()
        or len(text) < 10
        or text.lower() in BOOLEAN_WORDS
        or not any(c.isalpha() for c in text)
    ):
        raise ValueError(f"{what}: give a reason in words (at least 10 visible characters), not {str(reason)[:40]!r}")
    return text


def rollout(
    version: str,
    digest: str,
    json_out: str,
    summary: str,
    dry_run: bool,
    backup: bool,
    tag_reason: str | None = None,
) -> int:
    """The deploy step; salt-ssh's exit status (0 ok, 20 a state failed), 1 no backup, 2 bad input
    (a missing salt-ssh or an output that cannot be written included: one line, never a traceback).

    Without a digest the hosts would run a mutable tag: refused unless
    `tag_reason` (--tag-without-digest / $RELEASE_TAG_WITHOUT_DIGEST) says why."""
    salt_ssh = os.environ.get("SALT_SSH") or shlex.join([str(REPO / ".venv" / "bin" / "lostops"), "salt-ssh"])
    reason = ""
    try:
        if not digest:
            if not tag_reason:
                raise ValueError(
                    f"no image digest (APP_DIGEST): refusing to deploy the mutable tag {str(version)[:40]}; "
                    f"set {TAG_OVERRIDE}=<reason> to deploy a tag on purpose"
                )
            reason = check_reason(tag_reason, TAG_OVERRIDE)
        cmd = salt_command(salt_ssh, version, digest or None)
    except ValueError as exc:
        print(f"release-rollout: {exc}", file=sys.stderr)
        return 2
    if backup:
        try:
            backup_cmd = backup_command(salt_ssh, database_host())
        except ValueError as exc:
            print(f"release-rollout: {exc}", file=sys.stderr)
            return 2
    if dry_run:
        if backup:
            print(shlex.join(backup_cmd))
        print(shlex.join(cmd))
        return 0
    try:
        return _rollout(cmd, backup_cmd if backup else None, version, digest, json_out, summary, reason)
    except OSError as exc:
        if exc.filename == cmd[0] and isinstance(exc, FileNotFoundError):
            print(f"release-rollout: {cmd[0]}: not found (run `make deps`, or set SALT_SSH)", file=sys.stderr)
        elif exc.filename == cmd[0]:
            print(f"release-rollout: cannot run {cmd[0]}: {exc.strerror}", file=sys.stderr)
        else:
            print(f"release-rollout: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2


def _rollout(
    cmd: list[str],
    backup_cmd: list[str] | None,
    version: str,
    digest: str,
    json_out: str,
    summary: str,
    reason: str = "",
) -> int:
    from lostops import drift

    if backup_cmd:
        proc = subprocess.run(backup_cmd, capture_output=True, text=True, cwd=REPO, check=False)
        ok, line = backup_result(proc.stdout)
        print(f"release-rollout: {line}", flush=True)
        if not ok:
            print("release-rollout: stopping before the roll-out: no fresh backup, no migration", file=sys.stderr)
            return 1
    ref = f"{version}" + (f"@{digest}" if digest else f" (tag, no digest: {reason})")
    print(f"release-rollout: salt-ssh '*' state.apply with app {ref}", flush=True)
    with open(json_out, "w", encoding="utf-8") as out:
        rc = subprocess.run(cmd, stdout=out, cwd=REPO, check=False).returncode
    # The Markdown result: failed state names only, never their comments (a
    # failed roll-out's comment holds the new container's logs).
    markdown, _ = drift.summarize(json_out, mode="apply", cdktf_diff=None, comments=False)
    if summary == "-":
        sys.stdout.write(markdown)
    else:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    print(
        f"release-rollout: salt-ssh exited {rc}"
        + ("" if rc == 0 else "; the previous version keeps serving if the new one failed its health check")
    )
    return rc
