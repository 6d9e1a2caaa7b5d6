"""9. The real programs work together (lab images, tests/lab/images/).

(a) Database (MariaDB standing in for MySQL 8.0, with the project's own TLS
    material, users.sql and lostops.cnf): a plaintext login of the app user
    is refused; a TLS login from the backend that VERIFIES the server
    certificate (CA of the deployment, name = the IP the app uses) works; the
    same account from the database host itself is refused (grant: the account
    is bound to the backend's IP); the monitoring host cannot even connect
    (firewall); the exporter account reads server status but not the app's
    tables.
(b) Monitoring: the real Prometheus scrapes every target over the private
    addresses through both firewalls; every target that runs a real program is
    `up`; the stand-ins (cAdvisor, Grafana) are listed, not counted.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest

from tests.e2e import labenv, probes
from tests.e2e.summary import SUMMARY

MYSQL_IMAGE = "localhost/lostops-lab-mysql:lab"
STANDIN_JOBS = {"cadvisor", "grafana"}  # busybox stand-ins: no /metrics
DB_NAME = "lostops"  # pillar app:database:name (formula default)
DB_USER = "lostops"


def client(lab, host: str, args: list[str], network: str = "host", mounts: list[str] = (), timeout: int = 60):
    """Run MariaDB's client (the lab mysql image) in a throw-away container on ``host``."""
    vols = " ".join(f"-v {shlex.quote(m)}" for m in mounts)
    cmd = (
        f"docker run --rm --network {network} {vols} --entrypoint mariadb {MYSQL_IMAGE} "
        f"--no-defaults --connect-timeout=3 " + " ".join(shlex.quote(a) for a in args)
    )
    return lab.run(host, cmd, timeout=timeout)


@pytest.mark.summary("database tls and grants")
def test_database_tls_and_grants(lab, converged, secret_values):
    db_ip = labenv.host_ip("database")
    pw = secret_values["mysql_app_password"]
    xpw = secret_values["mysql_exporter_password"]
    ca_app = "/etc/lostops/app/mysql-ca.pem:/ca.pem:ro"
    problems, facts = [], []
    base = ["-h", db_ip, "-u", DB_USER, f"-p{pw}", DB_NAME]

    r = client(lab, "backend", [*base, "--skip-ssl", "-e", "SELECT 1"])
    if r.returncode == 0 or "insecure transport" not in (r.stdout + r.stderr):
        problems.append(
            f"plaintext login not refused as insecure transport: rc={r.returncode} {r.stderr.strip()[:200]}"
        )
    else:
        facts.append("plaintext refused (require_secure_transport)")

    q = "SHOW SESSION STATUS LIKE 'Ssl_version'; SELECT COUNT(*) FROM counters"
    r = client(lab, "backend", [*base, "--ssl-ca=/ca.pem", "--ssl-verify-server-cert", "-N", "-e", q], mounts=[ca_app])
    if r.returncode != 0:
        problems.append(f"verified TLS login of the app user from the backend failed: {r.stderr.strip()[:300]}")
    else:
        facts.append(f"app user over {r.stdout.split()[1]} with the server certificate verified for {db_ip}")

    ca_db = "/etc/lostops/mysql/tls/ca.pem:/ca.pem:ro"
    r = client(lab, "database", [*base, "--ssl-ca=/ca.pem", "-e", "SELECT 1"], mounts=[ca_db])
    # refused by the account's host part: 1130 "Host ... is not allowed to connect" (no
    # account for that address at all) or 1045 "Access denied"
    if r.returncode == 0 or not any(m in r.stderr for m in ("is not allowed to connect", "Access denied")):
        problems.append(f"app user from the database host not refused by the grant: {r.stderr.strip()[:200]}")
    else:
        facts.append("app user from another host refused (no grant for that address)")

    probe = probes.probe_from_host(lab, "monitoring", [("tcp", db_ip, 3306)])
    if any(v == "connected" for v in probe.values()):
        problems.append(f"monitoring reaches {db_ip}:3306: {probe}")
    else:
        facts.append("monitoring cannot connect to 3306 (firewall)")

    xbase = ["-h", "mysql", "-u", "exporter", f"-p{xpw}", "--ssl-ca=/ca.pem", "-N"]
    r = client(lab, "database", [*xbase, "-e", "SHOW GLOBAL STATUS LIKE 'Uptime'"], "mysql-internal", [ca_db])
    if r.returncode != 0 or "Uptime" not in r.stdout:
        problems.append(f"exporter cannot read status: {r.stderr.strip()[:200]}")
    r2 = client(lab, "database", [*xbase, "-e", f"SELECT COUNT(*) FROM {DB_NAME}.counters"], "mysql-internal", [ca_db])
    if r2.returncode == 0 or "denied" not in r2.stderr:
        problems.append(f"exporter reads the app's table: rc={r2.returncode} {r2.stdout.strip()[:100]}")
    elif r.returncode == 0:
        facts.append("exporter reads status, not the app's tables")

    SUMMARY.conclude(
        "database tls and grants", problems, "; ".join(facts) + " (MariaDB 11.8 standing in for MySQL 8.0)"
    )


PROM_TARGETS = (
    "docker exec $(docker ps -qf label=com.docker.compose.project=monitoring "
    "-f label=com.docker.compose.service=prometheus) wget -qO- http://127.0.0.1:9090/api/v1/targets"
)


@pytest.mark.summary("prometheus targets")
def test_prometheus_scrapes_every_real_target(lab, converged):
    def targets():
        r = lab.run("monitoring", PROM_TARGETS, timeout=30)
        if r.returncode != 0:
            return None
        active = json.loads(r.stdout)["data"]["activeTargets"]
        return [
            (t["labels"]["job"], t["labels"].get("host", ""), t["scrapeUrl"], t["health"], t["lastError"])
            for t in active
        ]

    deadline = time.monotonic() + 90
    got = targets()
    while time.monotonic() < deadline:
        real = [t for t in (got or []) if t[0] not in STANDIN_JOBS]
        if real and all(t[3] == "up" for t in real):
            break
        time.sleep(3)
        got = targets()
    problems = []
    if not got:
        problems.append("no targets from Prometheus' API")
    real = [t for t in got or [] if t[0] not in STANDIN_JOBS]
    down = [f"{j}@{h} {u}: {e}" for j, h, u, s, e in real if s != "up"]
    if down:
        problems.append(f"real targets not up: {down}")
    standins = sorted({f"{j}@{h}" for j, h, *_ in got or [] if j in STANDIN_JOBS})
    jobs = sorted({t[0] for t in real})
    SUMMARY.conclude(
        "prometheus targets",
        problems,
        f"{len(real)}/{len(real)} targets of real programs up (jobs {', '.join(jobs)}), over the private "
        f"addresses through both firewalls; not counted (stand-ins): {', '.join(standins)}",
    )
