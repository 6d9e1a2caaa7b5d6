"""6. Persistence: MySQL's data survives a re-creation and a reboot of the database host.

The data location is the one the mysql formula manages (state
`mysql-data-dir-file-directory` of the first converge) and must be what the running
container mounts as /var/lib/mysql. A MySQL setting changed on the salt-ssh
command line (`mysql:config`, salt/mysql/pillar.example: "A change recreates
the container") must re-create the container; then the database host really
reboots, together with the monitoring host (labctl reboot_together), and the
containers of both come back by themselves (restart policy + docker enabled),
with the marker still there.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e import probes, saltrun
from tests.e2e.summary import SUMMARY

KNOB = "max_connections"
MYSQL_FILTER = "--filter label=com.docker.compose.project=mysql --filter label=com.docker.compose.service=mysql"


def mysql_container(lab) -> tuple[str, dict]:
    found = [
        (n, c)
        for n, c in probes.containers(lab, "database").items()
        if c["project"] == "mysql" and c["service"] == "mysql"
    ]
    assert len(found) == 1, f"expected one mysql container, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def mysql_marker(lab, converged) -> dict[str, str]:
    """A marker file with a fresh token in MySQL's data dir (the mysql formula's state), written once per module.

    Both tests check it: the re-creation must keep it, and so must the reboot
    after it (or, run alone, the reboot of the freshly converged host)."""
    data_dir = converged.state("database", "mysql-data-dir-file-directory")["name"]
    path = f"{data_dir}/lostops-e2e-marker"
    token = uuid.uuid4().hex
    r = lab.run("database", f"echo {token} > {path} && sync", timeout=30)
    assert r.returncode == 0, f"cannot write the marker {path}: {r.stderr}"
    return {"marker": path, "token": token, "data_dir": data_dir}


def marker_lost(lab, mysql_marker: dict[str, str], when: str) -> list[str]:
    """[] when the marker still holds its token, else the problem."""
    got = lab.run("database", f"cat {mysql_marker['marker']}", timeout=30).stdout.strip()
    return [] if got == mysql_marker["token"] else [f"marker {mysql_marker['marker']} lost {when}: {got!r}"]


@pytest.mark.summary("mysql re-create")
def test_mysql_recreated_on_config_change(lab, converged, salt_env, mysql_marker):
    data_dir = mysql_marker["data_dir"]
    name, before = mysql_container(lab)
    assert before["mounts"].get("/var/lib/mysql") == data_dir, (
        f"the container mounts {before['mounts'].get('/var/lib/mysql')} as /var/lib/mysql, the state manages {data_dir}"
    )

    cnf = converged.state("database", "mysql-config-file-managed")["name"]
    cur = lab.run("database", f"grep -E '^\\s*{KNOB}\\s*=' {cnf}", timeout=30).stdout.strip()
    value = 173 if "173" not in cur else 174
    run = saltrun.salt_ssh(
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
    problems += marker_lost(lab, mysql_marker, "by the re-creation")
    SUMMARY.conclude(
        "mysql re-create",
        problems,
        f"{KNOB}={value} on the command line re-created the container "
        f"({before['id'][:12]} -> {after['id'][:12]}), marker in {data_dir} kept ({run.seconds:.0f} s)",
    )


REBOOTED = ("database", "monitoring")


@pytest.mark.summary("persistence after reboot")
def test_persistence_after_reboot(lab, converged, mysql_marker):
    """The database host (MySQL's data) and the monitoring host (Prometheus and Alertmanager are
    reloaded by a SIGHUP from inside their containers: `docker kill -s` would mark them stopped, and
    `restart: unless-stopped` would then leave them down after a boot) reboot together; every
    container that ran comes back by itself (restarted, running, healthy)."""
    data_dir = mysql_marker["data_dir"]
    before = {h: {n: c for n, c in probes.containers(lab, h).items() if c["status"] == "running"} for h in REBOOTED}
    for h in REBOOTED:
        assert before[h], f"no running container on the {h} host before the reboot"
        # stand-in only: see probes.shorten_final_kill (live-restore keeps containers running at shutdown)
        assert probes.shorten_final_kill(lab, h), f"{h}: cannot shorten the shutdown's final kill timeout"
    took = lab.reboot_together(list(REBOOTED))  # each: sshd answers and `systemctl is-system-running --wait`
    SUMMARY.time("database reboot", took["database"])
    problems = []
    for h in REBOOTED:
        now, gone = probes.wait_containers_back(lab, h, list(before[h]))
        problems += [f"{h}: {g}" for g in gone]
        for n, c in before[h].items():
            a = now.get(n)
            if a and a["status"] == "running" and a["started"] == c["started"]:
                problems.append(f"{h}: {n} was not restarted by the reboot?")
    problems += marker_lost(lab, mysql_marker, "by the reboot")
    SUMMARY.conclude(
        "persistence after reboot",
        problems,
        f"OK (database and monitoring rebooted together: {took['database']:.1f} s and {took['monitoring']:.1f} s; "
        f"{len(before['database'])} and {len(before['monitoring'])} containers back running/healthy by themselves; "
        f"marker in {data_dir} intact)",
    )


MYSQL_COMPOSE = (
    "docker compose --project-name mysql --project-directory /opt/lostops/mysql -f /opt/lostops/mysql/compose.yaml"
)
BLIP_SECONDS = 60


@pytest.mark.summary("database blip")
def test_database_blip_keeps_the_app_routed(lab, converged, salt_env):
    """MySQL stopped for a minute: the app's containers stay healthy (liveness is /up, no
    database), so Traefik keeps routing to them and users get the app's own error (500), not
    Traefik's 404; the app answers again by itself once MySQL is back, and the next apply
    changes nothing (no roll-out churn)."""
    from tests.e2e import labenv, tls

    ctx = tls.verified_ctx(tls.pebble_roots())
    app, backend = tls.name_of("app."), labenv.host_ip("backend")

    def get() -> tuple[int, bytes]:
        try:
            status, _, body = tls.https_get(backend, app, "/", ctx)
            return status, body[:60]
        except OSError as exc:
            return 0, str(exc).encode()[:60]

    def app_health() -> list[str]:
        r = lab.run(
            "backend",
            "docker inspect -f '{{.State.Health.Status}}' $(docker ps -q --filter label=lostops.app.managed=true)",
            timeout=30,
        )
        return r.stdout.split()

    problems, seen = [], {}
    # Earlier tests leave command-line settings behind (the re-creation test above on
    # the database, test_06's roll-outs on the backend): converge every host back
    # first, so that "the next apply changes nothing" is the blip's alone.
    base = saltrun.salt_ssh("*", "state.apply", env=salt_env, timeout=600)
    assert base.rc == 0 and all(base.ok(h) for h in labenv.HOSTS), base.report(list(labenv.HOSTS))
    assert get()[0] == 200, "the app does not answer 200 through Traefik before the blip"
    r = lab.run("database", f"{MYSQL_COMPOSE} stop mysql", timeout=180)
    assert r.returncode == 0, f"stop mysql: {r.stderr.strip()[-200:]}"
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < BLIP_SECONDS:
            status, body = get()
            seen[status] = seen.get(status, 0) + 1
            if status == 404 or status == 0:
                problems.append(f"{time.monotonic() - t0:.0f} s into the outage: {status} {body!r} (not routed)")
            health = app_health()
            if any(h != "healthy" for h in health) or not health:
                problems.append(f"{time.monotonic() - t0:.0f} s into the outage: app containers {health}")
            time.sleep(5)
    finally:
        r = lab.run(
            "database",
            f"{MYSQL_COMPOSE} start mysql && {MYSQL_COMPOSE} up -d --wait --wait-timeout 180 mysql",
            timeout=240,
        )
    assert r.returncode == 0, f"start mysql: {r.stderr.strip()[-200:]}"
    back = probes.wait_for(lambda: get()[0] == 200, 60, 2)
    recover_s = time.monotonic() - t0 - BLIP_SECONDS
    if not back:
        problems.append(f"the app did not answer 200 within 60 s after MySQL was back: {get()}")
    run = saltrun.salt_ssh("*", "state.apply", env=salt_env, timeout=600)
    changed = {h: run.changed(h) for h in labenv.HOSTS}
    n = sum(len(v) for v in changed.values())
    if run.rc != 0 or n:
        problems.append(f"the next apply: exit {run.rc}, {n} changes: {changed}")
    SUMMARY.conclude(
        "database blip",
        problems[:5],
        f"MySQL stopped {BLIP_SECONDS} s: app answered {dict(sorted(seen.items()))} through Traefik (its own 500, "
        f"never 404), containers healthy throughout; 200 again {max(recover_s, 0):.0f} s after MySQL was back; "
        f"next apply 0 changes ({run.seconds:.0f} s)",
    )
