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


@pytest.mark.parametrize(
    ("ps", "up"),
    [
        ("mysql running healthy\nexporter running \n", True),
        ("mysql running starting\nexporter running \n", True),  # a first health check still pending
        ("mysql running healthy\nmysql running healthy\nexporter running \n", True),  # two replicas
        ("mysql running healthy\n", False),  # a service without a container
        ("mysql running unhealthy\nexporter running \n", False),
        ("mysql running healthy\nmysql running unhealthy\nexporter running \n", False),  # one bad replica
        ("mysql exited \nexporter running \n", False),
        ("mysql restarting \nexporter running \n", False),
        ("", False),
    ],
)
def test_up_check_runs_up_unless_every_service_runs_and_none_is_unhealthy(highstate, tmp_path, ps, up):
    """The `unless` of <project>-compose-up-cmd-run, run by /bin/sh against a `docker` that prints
    what `compose ps --format` and `compose config --services` would (real sh, awk, sort)."""
    check = render.states(highstate("database"))["mysql-compose-up-cmd-run"]["args"]["unless"]
    (tmp_path / "ps.out").write_text(ps)
    docker = tmp_path / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  *" ps --format {{{{.Service}}}} {{{{.State}}}} {{{{.Health}}}}") cat {tmp_path}/ps.out ;;\n'
        '  *" config --services") printf "mysql\\nexporter\\n" ;;\n'
        '  *) echo "unexpected: $*" >&2; exit 99 ;;\n'
        "esac\n"
    )
    docker.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    r = subprocess.run(["/bin/sh", "-c", check], env=env, capture_output=True, text=True, timeout=30)
    assert "unexpected" not in r.stderr, r.stderr
    assert (r.returncode == 0) is up, (ps, r.returncode, r.stderr)
