"""6. Persistence: MySQL's data survives a re-creation and a reboot of the database host.

The data location is the one the mysql formula manages (state
`mysql-data-dir-file-directory` of the first converge) and must be what the running
container mounts as /var/lib/mysql. A MySQL setting changed on the salt-ssh
command line (`mysql:config`, salt/mysql/pillar.example: "A change recreates
the container") must re-create the container; then the database host really
reboots (tests/lab/labctl.py reboot) and the containers come back by
themselves (restart policy + docker enabled), with the marker still there.
The stand-in is not MySQL: this proves the host-path volume and the restart
policy, not InnoDB durability.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e import lib

KNOB = "max_connections"
MYSQL_FILTER = "--filter label=com.docker.compose.project=mysql --filter label=com.docker.compose.service=mysql"


def mysql_container(lab) -> tuple[str, dict]:
    found = [
        (n, c)
        for n, c in lib.containers(lab, "database").items()
        if c["project"] == "mysql" and c["service"] == "mysql"
    ]
    assert len(found) == 1, f"expected one mysql container, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def ctx():
    return {}


@pytest.mark.summary("mysql re-create")
def test_mysql_recreated_on_config_change(lab, converged, salt_env, ctx):
    data_dir = converged.state("database", "mysql-data-dir-file-directory")["name"]
    name, before = mysql_container(lab)
    assert before["mounts"].get("/var/lib/mysql") == data_dir, (
        f"the container mounts {before['mounts'].get('/var/lib/mysql')} as /var/lib/mysql, the state manages {data_dir}"
    )
    marker = f"{data_dir}/lostops-e2e-marker"
    token = uuid.uuid4().hex
    r = lab.run("database", f"echo {token} > {marker} && sync", timeout=30)
    assert r.returncode == 0, r.stderr
    ctx.update(marker=marker, token=token, data_dir=data_dir)

    cnf = converged.state("database", "mysql-config-file-managed")["name"]
    cur = lab.run("database", f"grep -E '^\\s*{KNOB}\\s*=' {cnf}", timeout=30).stdout.strip()
    value = 173 if "173" not in cur else 174
    run = lib.salt_ssh(
        "database", "state.apply", env=salt_env, pillar={"mysql": {"config": {KNOB: value}}}, timeout=600
    )
    problems = []
    if run.rc != 0 or not run.ok("database"):
        problems.append("apply failed:\n" + run.report(["database"]))
    new_line = lab.run("database", f"grep -E '^\\s*{KNOB}\\s*=' {cnf}", timeout=30).stdout.strip()
    if str(value) not in new_line:
        problems.append(f"{cnf}: {KNOB} line is {new_line!r}, want {value}")
    _, after = mysql_container(lab)
    if after["id"] == before["id"] or after["started"] == before["started"]:
        problems.append(f"the mysql container was not re-created (id {before['id'][:12]} -> {after['id'][:12]})")
    if after["status"] != "running":
        problems.append(f"mysql container {after['status']} after the re-creation")
    got = lab.run("database", f"cat {marker}", timeout=30).stdout.strip()
    if got != token:
        problems.append(f"marker lost by the re-creation: {got!r}")
    if problems:
        lib.SUMMARY.failed("mysql re-create", " | ".join(p.splitlines()[0] for p in problems))
    else:
        lib.SUMMARY.ok(
            "mysql re-create",
            f"{KNOB}={value} on the command line re-created the container "
            f"({before['id'][:12]} -> {after['id'][:12]}), marker in {data_dir} kept ({run.seconds:.0f} s)",
        )
    assert not problems, "\n".join(problems)


@pytest.mark.summary("persistence after reboot")
def test_persistence_after_reboot(lab, converged, ctx):
    assert ctx.get("marker"), "needs test_mysql_recreated_on_config_change (it writes the marker)"
    before = {n: c for n, c in lib.containers(lab, "database").items() if c["status"] == "running"}
    assert before, "no running container on the database host before the reboot"
    # stand-in only: see lib.shorten_final_kill (live-restore keeps containers running at shutdown)
    assert lib.shorten_final_kill(lab, "database"), "cannot shorten the shutdown's final kill timeout"
    reboot_s = lab.reboot("database")  # waits for sshd and `systemctl is-system-running --wait`
    lib.SUMMARY.time("database reboot", reboot_s)

    now, problems = lib.wait_containers_back(lab, "database", list(before))
    for n, c in before.items():
        a = now.get(n)
        if a and a["status"] == "running" and a["started"] == c["started"]:
            problems.append(f"{n} was not restarted by the reboot?")
    got = lab.run("database", f"cat {ctx['marker']}", timeout=30).stdout.strip()
    if got != ctx["token"]:
        problems.append(f"marker {ctx['marker']} lost: {got!r}")
    if problems:
        lib.SUMMARY.failed("persistence after reboot", " | ".join(problems))
    else:
        lib.SUMMARY.ok(
            "persistence after reboot",
            f"OK (database rebooted in {reboot_s:.1f} s; {len(before)} containers back running/healthy "
            f"by themselves; marker in {ctx['data_dir']} intact)",
        )
    assert not problems, "\n".join(problems)
