"""The mysql formula (salt/mysql), rendered through Salt.

Every host is rendered with Salt itself (lostops.render.Renderer via tests/unit/saltcall.py: the real
states, pillar and templates; the target OS's grains), once per
(host, inventory) per session. Assertions read the rendered compose file,
mysqld options, users.sql, TLS script and backup units. The CA script
(`lostops mysql-ca`) and the rendered certificate script are run for real
with openssl.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lostops import render
from tests.unit import formula_params, saltcall

REPO = Path(__file__).resolve().parents[2]
CONF = "/etc/lostops/mysql/conf.d/lostops.cnf"
COMPOSE = "/opt/lostops/mysql/compose.yaml"
USERS = "/etc/lostops/mysql/users.sql"
ROOT_CNF = "/etc/lostops/mysql/secrets/root.cnf"
ISSUE = "/etc/lostops/mysql/ca/issue-server-cert"
EXT = "/etc/lostops/mysql/ca/server.ext"
BACKUP = "/usr/local/sbin/lostops-mysql-backup"
TIMER = "/etc/systemd/system/lostops-mysql-backup.timer"
SERVICE = "/etc/systemd/system/lostops-mysql-backup.service"


def rendered(host: str = "database", inventory: str = "example") -> dict:
    return saltcall.rendered(host, "mysql", inventory)


def inv(inventory: str = "example") -> dict:
    return yaml.safe_load((REPO / "pillar" / "inventory" / f"{inventory}.yaml").read_text())


def secrets_example() -> dict:
    return yaml.safe_load((REPO / "pillar" / "secrets.yaml.example").read_text())


def text(path: str, inventory: str = "example") -> str:
    files = rendered(inventory=inventory)["files"]
    assert path in files, f"{path} not rendered (have: {sorted(files)})"
    return files[path]["contents"]


def compose(inventory: str = "example") -> dict:
    return yaml.safe_load(text(COMPOSE, inventory))


def states(inventory: str = "example", function: str | None = None) -> dict:
    return render.states(rendered(inventory=inventory)["highstate"], function)


def cnf_options(body: str) -> dict:
    out = {}
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


# --------------------------------------------------------------------------- targeting


def test_only_the_database_runs_mysql(highstate):
    assert "mysql-config-file-managed" in highstate("database")
    for host in ("backend", "monitoring"):
        assert not any(sid.startswith("mysql-") for sid in highstate(host)), host


# --------------------------------------------------------------------------- image and compose


def test_image_is_pinned_to_the_images_pillar():
    images = yaml.safe_load((REPO / "pillar" / "images.sls").read_text())["images"]
    svc = compose()["services"]["mysql"]
    tag = images["mysql"]["tag"]
    assert re.fullmatch(r"8\.(0|4)\.\d+", tag), tag
    digest = images["mysql"]["digest"]
    assert svc["image"] == f"{images['mysql']['name']}:{tag}" + (f"@{digest}" if digest else "")
    assert "latest" not in svc["image"]


def test_published_only_on_the_private_ip_and_never_33060():
    c = compose()
    ip = inv()["hosts"]["database"]["private_ip"]
    port = inv()["services"]["mysql"]["port"]
    svc = c["services"]["mysql"]
    assert svc["ports"] == [f"{ip}:{port}:3306"]
    assert "33060" not in yaml.safe_dump(c)  # parsed: comments do not count
    assert "network_mode" not in svc


def test_data_on_a_host_path_and_restart_policy():
    svc = compose()["services"]["mysql"]
    assert svc["restart"] == "unless-stopped"
    data = [v for v in svc["volumes"] if v.split(":")[1] == "/var/lib/mysql"]
    assert data == ["/srv/lostops/mysql/data:/var/lib/mysql"]
    assert "volumes" not in compose(), "no named volumes: data is a host path"
    d = states(function="file.directory")["mysql-data-dir-file-directory"]["args"]
    assert (d["name"], str(d["user"]), str(d["group"]), d["mode"]) == (
        "/srv/lostops/mysql/data",
        "999",
        "999",
        "0750",
    )
    assert not d.get("recurse"), "never chown mysqld's files recursively"


def test_config_mounted_read_only_and_recreates_the_container():
    svc = compose()["services"]["mysql"]
    assert f"{CONF}:/etc/mysql/conf.d/lostops.cnf:ro" in svc["volumes"]
    for v in svc["volumes"]:
        if not v.startswith("/srv/"):
            assert v.endswith(":ro"), v
    recreate = states(function="cmd.run")["mysql-compose-recreate-cmd-run"]["args"]
    watched = [next(iter(r.values())) for r in recreate["onchanges"]]
    assert "mysql-config-file-managed" in watched
    assert "mysql-tls-server-cert-issue-cmd-run" in watched


def test_mysqld_options_enforce_tls_and_stay_8_4_compatible():
    body = text(CONF)
    opts = cnf_options(body)
    assert opts["require_secure_transport"] == "ON"
    assert opts["tls_version"] == "TLSv1.2,TLSv1.3"
    assert opts["ssl_ca"].endswith("/ca.pem")
    assert opts["ssl_cert"].endswith("/server-cert.pem")
    assert opts["ssl_key"].endswith("/server-key.pem")
    assert opts["mysqlx"] == "OFF"
    assert opts["bind_address"] == "0.0.0.0"  # inside the container; the port mapping limits it
    assert "default_authentication_plugin" not in body
    assert "mysql_native_password" not in body
    svc = compose()["services"]["mysql"]
    tls_mount = [v for v in svc["volumes"] if v.startswith("/etc/lostops/mysql/tls:")]
    assert tls_mount and tls_mount[0].split(":")[1] == opts["ssl_ca"].rsplit("/", 1)[0]


def test_root_password_only_through_files():
    svc = compose()["services"]["mysql"]
    env = svc["environment"]
    assert "MYSQL_ROOT_PASSWORD" not in env
    assert env["MYSQL_ROOT_PASSWORD_FILE"].startswith("/run/secrets/lostops/")
    assert env["MYSQL_ROOT_HOST"] == "127.0.0.1"
    password = secrets_example()["mysql_root_password"]
    for value in [*env.values(), *svc["command"], *svc["healthcheck"]["test"]]:
        assert password not in str(value)
    assert "CHANGEME" not in text(COMPOSE)
    # No cmd.run carries a secret on its command line (visible in ps).
    for sid, st in states(function="cmd.run").items():
        for key in ("name", "unless", "onlyif"):
            assert "CHANGEME" not in str(st["args"].get(key, "")), sid
    assert "CHANGEME" not in text(BACKUP)
    # The defaults file has it, mode 0600.
    assert f'password = "{password}"' in text(ROOT_CNF)
    managed = states(function="file.managed")
    assert managed["mysql-config-root-cnf-file-managed"]["args"]["mode"] == "0600"
    pw = managed["mysql-config-root-password-file-managed"]["args"]
    assert (pw["mode"], str(pw["group"]), pw["contents_pillar"]) == (
        "0640",
        "999",
        "secrets:mysql_root_password",
    )


def test_healthcheck_is_mysqladmin_ping_with_the_defaults_file():
    test = compose()["services"]["mysql"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "mysqladmin"] and test[-1] == "ping"
    assert "--defaults-extra-file=/run/secrets/lostops/root.cnf" in test
    opts = cnf_options(text(ROOT_CNF))
    # TCP to 127.0.0.1: the entrypoint's temporary init server (--skip-networking) never looks healthy.
    assert (opts["host"], opts["protocol"], opts["ssl_mode"]) == (
        "127.0.0.1",
        "TCP",
        "VERIFY_CA",
    )


# --------------------------------------------------------------------------- users


def test_users_sql():
    sql = text(USERS)
    backend_ip = inv()["hosts"]["backend"]["private_ip"]
    app = formula_params.production("app")["database"]
    db, user = app["name"], app["user"]
    assert f"CREATE DATABASE IF NOT EXISTS `{db}`" in sql
    assert f"CREATE USER IF NOT EXISTS '{user}'@'{backend_ip}'" in sql
    assert f"ALTER USER '{user}'@'{backend_ip}'" in sql
    assert sql.count("REQUIRE SSL") == 4  # app + exporter, CREATE + ALTER
    assert sql.count("IDENTIFIED WITH caching_sha2_password") == 4
    assert "mysql_native_password" not in sql
    grants = [g for g in re.findall(r"^GRANT .*;$", sql, re.MULTILINE) if f"'{user}'@" in g]
    assert grants and all(f" ON `{db}`.* TO " in g for g in grants)
    assert not any("ALL" in g or "GRANT OPTION" in g for g in grants)
    # Nothing for the app from anywhere but the backend.
    assert not re.search(rf"'{user}'@'(%|[^']*\*)'", sql)


def test_exporter_account_matches_where_the_exporter_connects_from():
    sql = text(USERS)
    net = states(function="cmd.run")["mysql-network-internal-cmd-run"]["args"]["name"]
    subnet = re.search(r"--subnet (\S+)", net).group(1)
    assert "--internal" in net
    who = f"'exporter'@'{subnet}'"
    assert f"CREATE USER IF NOT EXISTS {who}" in sql
    assert re.search(rf"REQUIRE SSL WITH MAX_USER_CONNECTIONS 3;\nALTER USER {re.escape(who)}", sql)
    assert sql.count("MAX_USER_CONNECTIONS 3") == 2
    assert f"GRANT PROCESS, REPLICATION CLIENT ON *.* TO {who};" in sql
    assert f"GRANT SELECT ON `performance_schema`.* TO {who};" in sql
    assert f"GRANT SELECT ON *.* TO {who}" not in sql  # never the app's tables
    mysql_svc = compose()["services"]["mysql"]
    assert "mysql" in mysql_svc["networks"]["mysql-internal"]["aliases"]


def test_users_applied_through_compose_exec_and_retried_until_applied():
    st = states(function="cmd.run")["mysql-users-sql-apply-cmd-run"]["args"]
    assert (
        "exec -T mysql mysql --defaults-extra-file=/run/secrets/lostops/root.cnf < /etc/lostops/mysql/users.sql"
        in st["name"]
    )
    assert "up -d --wait" in st["name"]
    assert st["unless"].startswith("cmp -s /etc/lostops/mysql/users.sql ")
    req = [next(iter(r.values())) for r in st["require"]]
    assert "mysql-compose-up-cmd-run" in req and "mysql-users-sql-file-managed" in req
    f = states(function="file.managed")["mysql-users-sql-file-managed"]["args"]
    assert f["mode"] == "0600" and f["show_changes"] is False


# --------------------------------------------------------------------------- TLS


def test_tls_files_and_modes():
    managed = states(function="file.managed")
    ca_key = managed["mysql-tls-ca-key-file-managed"]["args"]
    assert (ca_key["mode"], ca_key["user"], ca_key["contents_pillar"]) == (
        "0600",
        "root",
        "secrets:mysql_ca_key",
    )
    assert not ca_key["name"].startswith("/etc/lostops/mysql/tls/"), "the CA key is never mounted into the container"
    assert managed["mysql-tls-ca-cert-file-managed"]["args"]["contents_pillar"] == "secrets:mysql_ca_cert"
    key = managed["mysql-tls-server-key-file-managed"]["args"]
    assert (key["mode"], str(key["group"]), key["replace"]) == ("0640", "999", False)
    issued = states(function="cmd.run")["mysql-tls-server-cert-issue-cmd-run"]["args"]
    assert issued["name"] == f"{ISSUE} issue" and issued["unless"] == f"{ISSUE} check"
    ext = text(EXT)
    assert f"IP.1 = {inv()['hosts']['database']['private_ip']}" in ext
    assert "DNS.1 = database" in ext and re.search(r"^DNS\.\d+ = mysql$", ext, re.MULTILINE)


def _make_ca(tmp: Path) -> tuple[str, str]:
    out = tmp / "ca.env"
    proc = subprocess.run(
        [sys.executable, "-m", "lostops", "mysql-ca", str(out)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    env = subprocess.run(
        [
            "bash",
            "-c",
            (
                f'. "{out}"; printf "%s\\n" "$LOSTOPS_SECRET_MYSQL_CA_CERT"; echo ===; '
                'printf "%s\\n" "$LOSTOPS_SECRET_MYSQL_CA_KEY"'
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cert, key = env.split("===\n")
    return cert, key


def test_make_mysql_ca_output_is_a_valid_ca_and_matches_the_secret_spec(tmp_path):
    from lostops.secrets import SPEC

    assert shutil.which("openssl"), "openssl is required"
    cert, key = _make_ca(tmp_path)
    assert re.fullmatch(SPEC["mysql_ca_cert"][1], cert)
    assert re.fullmatch(SPEC["mysql_ca_key"][1], key)
    (tmp_path / "ca.pem").write_text(cert)
    info = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "ca.pem"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CA:TRUE" in info and "Certificate Sign" in info
    assert "prime256v1" in info or "P-256" in info
    # Valid for about 10 years.
    assert (
        subprocess.run(
            [
                "openssl",
                "x509",
                "-in",
                str(tmp_path / "ca.pem"),
                "-noout",
                "-checkend",
                str(9 * 365 * 86400),
            ],
            check=False,
        ).returncode
        == 0
    )
    # Refuses to overwrite an existing file.
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "lostops",
            "mysql-ca",
            str(tmp_path / "ca.env"),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1


def test_rendered_issue_script_issues_a_verifiable_server_cert_idempotently(tmp_path):
    assert shutil.which("openssl"), "openssl is required"
    cert, key = _make_ca(tmp_path)
    base = tmp_path / "etc"
    (base / "ca").mkdir(parents=True)
    (base / "tls").mkdir()
    (base / "tls" / "ca.pem").write_text(cert)
    (base / "ca" / "ca-key.pem").write_text(key)
    (base / "ca" / "server.ext").write_text(text(EXT))
    script = text(ISSUE).replace("/etc/lostops/mysql/", f"{base}/")
    script = script.replace("chown root:999", f"chown {os.getuid()}:{os.getgid()}")
    issue = base / "ca" / "issue-server-cert"
    issue.write_text(script)
    issue.chmod(0o700)

    def run(arg: str) -> int:
        return subprocess.run([str(issue), arg], check=False, capture_output=True, text=True).returncode

    assert run("check") == 1
    assert run("issue") == 0
    assert run("check") == 0, "a second apply must not re-issue"
    server = base / "tls" / "server-cert.pem"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(base / "tls" / "ca.pem"), str(server)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    info = subprocess.run(
        ["openssl", "x509", "-in", str(server), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ip = inv()["hosts"]["database"]["private_ip"]
    assert f"IP Address:{ip}" in info and "DNS:database" in info and "DNS:mysql" in info
    assert "TLS Web Server Authentication" in info and "CA:FALSE" in info
    assert (base / "tls" / "server-key.pem").stat().st_mode & 0o777 == 0o640
    # A changed request (e.g. a new SAN) re-issues; the key is kept.
    before_key = (base / "tls" / "server-key.pem").read_bytes()
    with open(base / "ca" / "server.ext", "a") as fh:
        fh.write("DNS.9 = db.example.com\n")
    assert run("check") == 1
    assert run("issue") == 0 and run("check") == 0
    assert (base / "tls" / "server-key.pem").read_bytes() == before_key
    # A certificate from another CA is replaced.
    other = tmp_path / "other"
    other.mkdir()
    other_cert, _ = _make_ca(other)
    (base / "tls" / "ca.pem").write_text(other_cert)
    assert run("check") == 1


# --------------------------------------------------------------------------- backups


def test_backup_timer_and_script():
    timer = text(TIMER)
    assert re.search(r"^OnCalendar=\S", timer, re.MULTILINE) and "Persistent=true" in timer
    assert "ExecStart=/usr/local/sbin/lostops-mysql-backup" in text(SERVICE)
    running = states(function="service.running")["mysql-backup-timer-service-running"]["args"]
    assert running["name"] == "lostops-mysql-backup.timer" and running["enable"] is True
    # The service itself is never started at apply time.
    assert not any(
        st["args"]["name"].startswith("lostops-mysql-backup.service")
        for st in states(function="service.running").values()
    )
    script = text(BACKUP)
    for flag in (
        "--single-transaction",
        "--routines",
        "--events",
        "--all-databases",
        "--defaults-extra-file=/run/secrets/lostops/root.cnf",
    ):
        assert flag in script
    # every step's status is recorded (set -e would stop before the metrics are written)
    assert "exec -T mysql" in script and "gzip" in script and "set -uo pipefail" in script
    assert re.search(r"-mtime \+\d+ .*-delete", script)
    d = states(function="file.directory")["mysql-backup-dir-file-directory"]["args"]
    assert (d["name"], d["mode"]) == ("/srv/lostops/mysql/backups", "0700")


@pytest.mark.parametrize("inventory", ["example", "lab"])
def test_offsite_backup_gets_the_create_only_sas_and_the_public_key_only(inventory):
    # The inventory has azure.backup: the script encrypts with age and uploads
    # to the inventory's endpoint; the SAS is a 0600 root file (never in the
    # script or the unit), the recipients file holds the PUBLIC key only.
    st = states(inventory)
    sas = st["mysql-backup-offsite-sas-file-managed"]["args"]
    assert (sas["name"], sas["mode"], sas["user"], sas["contents_pillar"]) == (
        "/etc/lostops/mysql/backup/sas",
        "0600",
        "root",
        "secrets:backup_sas_token",
    )
    rec = st["mysql-backup-offsite-recipients-file-managed"]["args"]
    assert rec["contents_pillar"] == "secrets:backup_age_recipient"
    assert set(st["mysql-backup-offsite-pkg-installed"]["args"]["pkgs"]) == {"age", "curl"}
    script = text(BACKUP, inventory)
    endpoint = (
        inv(inventory)["azure"]["backup"].get("endpoint") or "https://lostopsbackupsexample.blob.core.windows.net"
    )
    assert f"endpoint={endpoint}\n" in script and "container=mysql-backups\n" in script
    assert "prefix=database\n" in script
    assert 'age --encrypt -R "$recipients"' in script
    assert "If-None-Match: *" in script and "Content-MD5: $md5" in script
    assert "sas_file=/etc/lostops/mysql/backup/sas" in script and "BEGIN" not in script
    assert "metrics_dir=/var/lib/node-exporter/textfile\n" in script
    # the secret itself never appears in a rendered file
    token = rendered(inventory=inventory)["pillar"]["secrets"]["backup_sas_token"]
    assert token not in script


# --------------------------------------------------------------------------- lab


def test_lab_runs_mysql_with_the_production_command_and_users():
    # The lab image (tests/lab/images/mysql.py) is MySQL 9.7 behind the official mysql
    # image's entrypoint: production command, health check, users.sql and backup.
    c = compose("lab")
    svc = c["services"]["mysql"]
    prod = compose("example")["services"]["mysql"]
    ip = inv("lab")["hosts"]["database"]["private_ip"]
    port = inv("lab")["services"]["mysql"]["port"]
    assert svc["image"] == "localhost/lostops-lab-mysql:lab"
    assert svc["command"] == prod["command"] == ["mysqld"]
    assert svc["healthcheck"]["test"] == prod["healthcheck"]["test"]
    assert svc["ports"] == [f"{ip}:{port}:3306"]
    assert "mysql-users-sql-apply-cmd-run" in rendered(inventory="lab")["highstate"]
    assert "mysql-backup-timer-service-running" in rendered(inventory="lab")["highstate"]
    assert "mysql-tls-server-cert-issue-cmd-run" in rendered(inventory="lab")["highstate"]


def test_the_lab_database_differs_from_production_only_in_its_image():
    """pillar/overrides/lab/mysql.sls holds one line, the image: lostops.cnf, root.cnf,
    users.sql and the backup script render exactly as in production (no MariaDB lines)."""
    lab_pillar = yaml.safe_load((REPO / "pillar/overrides/lab/mysql.sls").read_text())
    assert lab_pillar == {"images": {"mysql": {"name": "localhost/lostops-lab-mysql", "tag": "lab", "digest": ""}}}
    assert cnf_options(text(CONF, "lab")) == cnf_options(text(CONF))
    assert "mysqlx = OFF" in text(CONF, "lab")
    assert _shape(text(ROOT_CNF, "lab")) == _shape(text(ROOT_CNF))
    dump = [line.strip() for line in text(BACKUP, "lab").splitlines() if "mysqldump" in line or "--" in line]
    assert dump == [line.strip() for line in text(BACKUP).splitlines() if "mysqldump" in line or "--" in line]
    assert "ssl-mode = VERIFY_CA" in text(ROOT_CNF, "lab")
    assert "--set-gtid-purged=OFF" in text(BACKUP, "lab")


def _shape(body: str) -> list[str]:
    """The lines of a rendered file without the values that differ by inventory (passwords, addresses)."""
    return [line.split("=", 1)[0].strip() for line in body.splitlines()]


def test_no_native_password_in_any_rendered_file():
    for inventory in ("example", "lab"):
        for path, f in rendered(inventory=inventory)["files"].items():
            assert "mysql_native_password" not in f["contents"], (inventory, path)
            assert "default_authentication_plugin" not in f["contents"], (
                inventory,
                path,
            )


@pytest.mark.parametrize("name", ["pillar.example"])
def test_pillar_example_documents_the_top_level_keys(name):
    example = yaml.safe_load((REPO / "salt" / "mysql" / name).read_text())["mysql"]
    defaults = yaml.safe_load((REPO / "salt" / "mysql" / "parameters" / "defaults.yaml").read_text())
    assert set(defaults) <= set(example), set(defaults) - set(example)


def test_wait_timeout_closes_idle_connections_sooner_than_mysqls_default():
    """28800 s is MySQL's own default (8 h): a line that sets it "to abort runaway
    connections" changed nothing. The rendered lostops.cnf closes idle ones after 10 min."""
    mysql_default = 28800
    for inventory in ("example", "lab"):
        got = int(cnf_options(text(CONF, inventory))["wait_timeout"])
        assert 0 < got < mysql_default, (inventory, got)


def test_no_doc_says_the_lab_skips_user_management():
    """The lab applies users.sql (its database is the real MySQL): no file may say otherwise."""
    assert "mysql-users-sql-apply-cmd-run" in rendered(inventory="lab")["highstate"]
    for path in ("docs/mysql.md", "docs/lab.md", "salt/mysql/pillar.example", "salt/mysql/parameters/defaults.yaml"):
        flat = " ".join((REPO / path).read_text(encoding="utf-8").replace("#", " ").split())
        assert not re.search(r"manage_users[^.]{0,40}false[^.]{0,20}\(the lab\)|the lab sets it false", flat, re.I), (
            path
        )
