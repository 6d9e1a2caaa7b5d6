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
