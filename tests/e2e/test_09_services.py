"""9. The real programs work together (lab images, tests/lab/images/).

(a) Database (Oracle MySQL 9.7 standing in for production's 8.0, with the
    project's own TLS material, users.sql and lostops.cnf): a plaintext login of
    the app user is refused; a TLS login from the backend that VERIFIES the
    server certificate (CA of the deployment, name = the IP the app uses) works
    and the account authenticates with caching_sha2_password; after a restart
    of mysqld (its authentication cache empty, so the first login is a full
    authentication) the app stand-in connects the way the real app's PDO
    configuration does (only MYSQL_ATTR_SSL_CA; mysqlnd verifies because a CA is
    set); the same account from the database host itself is refused (grant:
    the account is bound to the backend's IP); the monitoring host cannot even
    connect (firewall); the exporter account reads server status but not the
    app's tables.
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
APP_IMAGE = "localhost/lostops-lab-app:lab"
STANDIN_JOBS = {"cadvisor", "grafana"}  # busybox stand-ins: no /metrics
DB_NAME = "lostops"  # pillar app:database:name (formula default)
DB_USER = "lostops"
MYSQL_COMPOSE = (
    "docker compose --project-name mysql --project-directory /opt/lostops/mysql -f /opt/lostops/mysql/compose.yaml"
)
# The app's env file and CA as the app formula writes and mounts them (salt/app).
APP_ENV = "/etc/lostops/app/app.env"
APP_CA = "/etc/lostops/app/mysql-ca.pem:/run/lostops/mysql-ca.pem:ro"
# The stand-in's lab_db() (tests/lab/images/app.py): the real app's PDO options.
PDO_PROBE = (
    "require '/var/www/html/db.php'; $db = lab_db();"
    " $r = $db->query(\"SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')\")"
    "->fetchAll(PDO::FETCH_KEY_PAIR);"
    " echo $r['Ssl_version'], ' ', $r['Ssl_cipher'], ' ', $db->query('SELECT CURRENT_USER()')->fetchColumn(), PHP_EOL;"
)


def client(lab, host: str, args: list[str], network: str = "host", mounts: list[str] = (), timeout: int = 60):
    """Run MySQL's own client (the lab mysql image) in a throw-away container on ``host``."""
    vols = " ".join(f"-v {shlex.quote(m)}" for m in mounts)
    cmd = (
        f"docker run --rm --network {network} {vols} --entrypoint mysql {MYSQL_IMAGE} "
        f"--no-defaults --connect-timeout=3 " + " ".join(shlex.quote(a) for a in args)
    )
    return lab.run(host, cmd, timeout=timeout)


def root_sql(lab, sql: str, timeout: int = 60):
    return lab.run(
        "database",
        f"{MYSQL_COMPOSE} exec -T mysql mysql --defaults-extra-file=/run/secrets/lostops/root.cnf -N -e "
        + shlex.quote(sql),
        timeout=timeout,
    )


def app_pdo(lab):
    """One connection of the app stand-in's PDO code, with the app's env file and CA, on the backend."""
    return lab.run(
        "backend",
        f"docker run --rm --network host --env-file {APP_ENV} -v {APP_CA} --entrypoint php {APP_IMAGE} "
        f"-r {shlex.quote(PDO_PROBE)}",
        timeout=60,
    )


def restart_mysql(lab) -> float:
    """`docker compose restart mysql`, then wait for its health check; returns the seconds."""
    t0 = time.monotonic()
    r = lab.run(
        "database",
        f"{MYSQL_COMPOSE} restart mysql && {MYSQL_COMPOSE} up -d --wait --wait-timeout 180 mysql",
        timeout=240,
    )
    assert r.returncode == 0, f"mysql restart: {r.stderr.strip()[-300:]}"
    return time.monotonic() - t0


@pytest.mark.summary("database tls and grants")
def test_database_tls_and_grants(lab, converged, secret_values):
    db_ip = labenv.host_ip("database")
    pw = secret_values["mysql_app_password"]
    xpw = secret_values["mysql_exporter_password"]
    ca_app = "/etc/lostops/app/mysql-ca.pem:/ca.pem:ro"
    problems, facts = [], []
    base = ["-h", db_ip, "-u", DB_USER, f"-p{pw}", DB_NAME]

    r = root_sql(lab, "SELECT VERSION()")
    version = r.stdout.strip() or "?"

    # Over plaintext MySQL 9.7 refuses with 1045 (caching_sha2_password completes no full
    # authentication without TLS, measured in the lab even with --get-server-public-key);
    # require_secure_transport's 3159 ("insecure transport") is the other acceptable refusal.
    r = client(lab, "backend", [*base, "--ssl-mode=DISABLED", "--get-server-public-key", "-e", "SELECT 1"])
    out = r.stdout + r.stderr
    if r.returncode == 0:
        problems.append(f"plaintext login accepted: {r.stdout.strip()[:200]}")
    elif "insecure transport" in out:
        facts.append("plaintext refused (require_secure_transport, ERROR 3159)")
    elif "ERROR 1045" in out:
        facts.append("plaintext refused (ERROR 1045: caching_sha2_password's full authentication without TLS)")
    else:
        problems.append(f"plaintext login failed for another reason: {r.stderr.strip()[-200:]}")

    q = "SHOW SESSION STATUS LIKE 'Ssl_version'; SELECT COUNT(*) FROM counters"
    r = client(
        lab, "backend", [*base, "--ssl-mode=VERIFY_IDENTITY", "--ssl-ca=/ca.pem", "-N", "-e", q], mounts=[ca_app]
    )
    r2 = root_sql(lab, f"SELECT DISTINCT plugin FROM mysql.user WHERE user = '{DB_USER}'")
    plugin = r2.stdout.strip()
    if r.returncode != 0:
        problems.append(f"verified TLS login of the app user from the backend failed: {r.stderr.strip()[:300]}")
    elif plugin != "caching_sha2_password":
        problems.append(f"the app account authenticates with {plugin!r}, not caching_sha2_password")
    else:
        facts.append(f"app user ({plugin}) over {r.stdout.split()[1]} with the server certificate verified for {db_ip}")

    # A fresh start empties caching_sha2_password's cache: the app's first login is a
    # full authentication, which MySQL allows only over TLS (or with RSA keys).
    restart_s = restart_mysql(lab)
    r = app_pdo(lab)
    if r.returncode != 0 or "TLSv1." not in r.stdout:
        problems.append(
            f"the app's PDO connection after a mysqld restart failed: {(r.stderr or r.stdout).strip()[-300:]}"
        )
    else:
        tls, _cipher, who = r.stdout.split()[:3]
        facts.append(
            f"after a mysqld restart ({restart_s:.0f} s) the app's PDO login (MYSQL_ATTR_SSL_CA only) works: "
            f"{who} over {tls}"
        )

    ca_db = "/etc/lostops/mysql/tls/ca.pem:/ca.pem:ro"
    r = client(lab, "database", [*base, "--ssl-mode=VERIFY_CA", "--ssl-ca=/ca.pem", "-e", "SELECT 1"], mounts=[ca_db])
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

    xbase = ["-h", "mysql", "-u", "exporter", f"-p{xpw}", "--ssl-mode=VERIFY_IDENTITY", "--ssl-ca=/ca.pem", "-N"]
    r = client(lab, "database", [*xbase, "-e", "SHOW GLOBAL STATUS LIKE 'Uptime'"], "mysql-internal", [ca_db])
    if r.returncode != 0 or "Uptime" not in r.stdout:
        problems.append(f"exporter cannot read status: {r.stderr.strip()[:200]}")
    r2 = client(lab, "database", [*xbase, "-e", f"SELECT COUNT(*) FROM {DB_NAME}.counters"], "mysql-internal", [ca_db])
    if r2.returncode == 0 or "denied" not in r2.stderr:
        problems.append(f"exporter reads the app's table: rc={r2.returncode} {r2.stdout.strip()[:100]}")
    elif r.returncode == 0:
        facts.append("exporter reads status, not the app's tables")

    SUMMARY.conclude("database tls and grants", problems, f"MySQL {version}: " + "; ".join(facts))


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
