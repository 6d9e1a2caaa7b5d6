"""salt/lib/compose.jinja: one compose command line, and compose's own override file from pillar.

Production sets no `<formula>:compose_override`: no override file (state
...-compose-override-file-absent) and every compose command is
`docker compose --project-name P --project-directory D -f D/compose.yaml`.
With the pillar set (the lab's way to run a stand-in program), the file is
written and every command of the project, the formula's own included, adds
`-f D/compose.override.yaml`.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from lostops import render
from tests.unit.saltcall import show_sls

BASE = "docker compose --project-name mysql --project-directory /opt/lostops/mysql -f /opt/lostops/mysql/compose.yaml"
OVERRIDE = {"services": {"mysql": {"command": ["sleep", "1"], "healthcheck": {"test": ["CMD", "true"]}}}}


def _commands(hs: dict) -> dict[str, str]:
    return {
        sid: st["args"]["name"]
        for sid, st in render.states(hs, "cmd.run").items()
        if "docker compose" in st["args"]["name"]
    }


def test_production_has_no_override_file_and_one_command_line(highstate):
    hs = highstate("database")
    flat = render.states(hs)
    assert flat["mysql-compose-override-file-absent"]["args"]["name"] == "/opt/lostops/mysql/compose.override.yaml"
    cmds = _commands(hs)
    assert {"mysql-compose-up-cmd-run", "mysql-compose-changed-cmd-run", "mysql-users-sql-apply-cmd-run"} <= set(cmds)
    for sid, cmd in cmds.items():
        if sid.startswith("mysql-"):
            assert BASE in cmd and "compose.override.yaml" not in cmd, sid
    backup = flat["mysql-backup-script-file-managed"]["args"]["context"]["compose"]
    assert backup == BASE


def test_compose_override_from_pillar_is_written_and_used_everywhere():
    pillar = json.dumps({"mysql": {"compose_override": OVERRIDE}})
    hs = show_sls("database", "mysql", pillar=pillar)
    flat = render.states(hs)
    state = flat["mysql-compose-override-file-managed"]["args"]
    assert state["name"] == "/opt/lostops/mysql/compose.override.yaml"
    assert yaml.safe_load(state["contents"]) == OVERRIDE
    with_override = BASE + " -f /opt/lostops/mysql/compose.override.yaml"
    for sid in ("mysql-compose-up-cmd-run", "mysql-compose-changed-cmd-run", "mysql-users-sql-apply-cmd-run"):
        assert with_override in flat[sid]["args"]["name"], sid
    assert flat["mysql-backup-script-file-managed"]["args"]["context"]["compose"] == with_override
    assert {"file": "mysql-compose-override-file-managed"} in flat["mysql-compose-changed-cmd-run"]["args"]["onchanges"]


SERVICES = "/opt/lostops/mysql/compose.services"


def _sh(cmd: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/sh", "-c", cmd], env={"PATH": f"{tmp_path}:/usr/bin:/bin", **env}, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip


def _fake_docker(tmp_path, script: str) -> None:
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\n" + script)
    docker.chmod(0o755)


@pytest.mark.parametrize(
    ("ps", "up"),
    [
        ("mysql running Up 2 hours (healthy)\nexporter running Up 2 hours\n", True),
        ("mysql running Up 1 second (health: starting)\nexporter running Up 1 second\n", True),  # check pending
        ("mysql running Up 1 hour (healthy)\nmysql running Up 1 hour (healthy)\nexporter running Up 1 hour\n", True),
        ("mysql running Up 2 hours (healthy)\n", False),  # a service without a container
        ("mysql running Up 2 hours (unhealthy)\nexporter running Up 2 hours\n", False),
        ("mysql running Up 1 hour (healthy)\nmysql running Up 1 hour (unhealthy)\nexporter running Up 1 hour\n", False),
        ("mysql paused Up 2 hours (Paused)\nexporter running Up 2 hours\n", False),
        ("mysql restarting Restarting (1) 3 seconds ago\nexporter running Up 2 hours\n", False),
        ("", False),
    ],
)
def test_up_check_runs_up_unless_every_service_runs_and_none_is_unhealthy(highstate, tmp_path, ps, up):
    """The `unless` of <project>-compose-up-cmd-run, run by /bin/sh against a `docker` that prints what
    `docker ps --format` prints for the project's containers, and the service list of compose.services
    (real sh, awk, sort, tail)."""
    check = render.states(highstate("database"))["mysql-compose-up-cmd-run"]["args"]["unless"]
    assert SERVICES in check and "docker compose" not in check  # no compose process on a no-op
    services = tmp_path / "compose.services"
    services.write_text(f"# {BASE}\nexporter\nmysql\n")
    (tmp_path / "ps.out").write_text(ps)
    ps_args = (
        "ps --filter label=com.docker.compose.project=mysql --filter label=com.docker.compose.oneoff=False "
        '--format {{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}'
    )
    (tmp_path / "ps.args").write_text(ps_args + "\n")
    _fake_docker(
        tmp_path,
        f'if [ "$*" = "$(cat {tmp_path}/ps.args)" ]; then cat {tmp_path}/ps.out; else echo "unexpected: $*" >&2; exit 99; fi\n',
    )
    r = _sh(check.replace(SERVICES, str(services)), tmp_path)
    assert "unexpected" not in r.stderr, r.stderr
    assert (r.returncode == 0) is up, (ps, r.returncode, r.stderr)


def _services_state(override: dict | None = None) -> dict:
    if override is None:
        return render.states(show_sls("database", "mysql"))["mysql-compose-services-cmd-run"]["args"]
    pillar = json.dumps({"mysql": {"compose_override": override}})
    return render.states(show_sls("database", "mysql", pillar=pillar))["mysql-compose-services-cmd-run"]["args"]


@pytest.fixture(scope="module")
def services_states() -> tuple[dict, dict]:
    return _services_state(), _services_state(OVERRIDE)


def _in(tmp_path, text: str) -> str:
    return text.replace("/opt/lostops/mysql", str(tmp_path))


def test_the_service_list_is_read_again_only_when_the_compose_files_or_the_command_change(services_states, tmp_path):
    plain, overridden = services_states
    assert plain["require"] == [{"file": "mysql-compose-file-managed"}, {"file": "mysql-compose-override-file-absent"}]
    _fake_docker(tmp_path, 'case "$*" in *" config --services") printf "mysql\\nexporter\\n" ;; *) exit 99 ;; esac\n')
    compose, override = tmp_path / "compose.yaml", tmp_path / "compose.override.yaml"
    compose.write_text("services: {}\n")
    os.utime(compose, (1_000, 1_000))

    def stale(state) -> bool:
        return _sh(_in(tmp_path, state["unless"]), tmp_path).returncode != 0

    assert stale(plain)  # no list yet
    r = _sh(_in(tmp_path, plain["name"]), tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "compose.services").read_text() == f"# {_in(tmp_path, BASE)}\nexporter\nmysql\n"
    assert not stale(plain)
    assert stale(overridden)  # another command line (with the override file): read again
    compose.touch()  # compose.yaml rewritten after the list
    assert stale(plain)
    _sh(_in(tmp_path, plain["name"]), tmp_path)
    assert not stale(plain)

    override.write_text("services: {}\n")
    os.utime(override, (2_000, 2_000))
    _sh(_in(tmp_path, overridden["name"]), tmp_path)
    assert not stale(overridden) and stale(plain)
    override.touch()  # the override changed after the list
    assert stale(overridden)


def test_a_failing_compose_config_keeps_the_old_list_and_fails_the_state(services_states, tmp_path):
    plain, _ = services_states
    (tmp_path / "compose.services").write_text("# old\nmysql\n")
    _fake_docker(tmp_path, 'echo "yaml: line 3: bad" >&2; exit 15\n')
    r = _sh(_in(tmp_path, plain["name"]), tmp_path)
    assert r.returncode != 0
    assert (tmp_path / "compose.services").read_text() == "# old\nmysql\n"
