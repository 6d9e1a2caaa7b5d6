"""3. Host facts with pytest-testinfra over SSH (ssh backend, sudo).

testinfra connects with the ssh_config written in .lab/ (lab key,
.lab/known_hosts with StrictHostKeyChecking yes, ProxyCommand through the
backend for the database, as in the inventory). Paths are read from the first
converge's state results (the states' `name`), not typed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import testinfra
import yaml

from lostops import secrets
from tests.e2e import labenv

SECRET_MODES_OK = {0o600, 0o400}
# Convention (docs/salt-conventions.md): secrets 0600, or 0640 root:<container gid>
# when a container user must read them (e.g. MySQL's TLS key for gid 999).
SECRET_MODES_GROUP = {0o640, 0o440}


@pytest.fixture(scope="module")
def hosts(converged, ssh_config):
    return {
        h: testinfra.get_host(f"ssh://{labenv.host_ip(h)}", ssh_config=str(ssh_config), sudo=True) for h in labenv.HOSTS
    }


def _state_name(run, host, state_id):
    st = run.state(host, state_id)
    assert st is not None, f"{host}: state {state_id} not in the converge's results"
    return st["name"]


@pytest.mark.parametrize("host", labenv.HOSTS)
@pytest.mark.parametrize("service", ["docker", "ssh"])
def test_service_enabled_and_running(hosts, host, service):
    svc = hosts[host].service(service)
    assert svc.is_enabled, f"{host}: {service} not enabled"
    assert svc.is_running, f"{host}: {service} not running"


@pytest.mark.parametrize("host", labenv.HOSTS)
def test_sshd_effective_config(hosts, host):
    out = hosts[host].check_output("sshd -T")
    cfg = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        cfg.setdefault(k.lower(), v.strip())
    assert cfg.get("passwordauthentication") == "no", (
        f"{host}: sshd -T passwordauthentication {cfg.get('passwordauthentication')}"
    )
    assert cfg.get("permitrootlogin") == "no", f"{host}: sshd -T permitrootlogin {cfg.get('permitrootlogin')}"
    assert cfg.get("kbdinteractiveauthentication", "no") == "no", f"{host}: keyboard-interactive auth is on"


@pytest.mark.parametrize("host", labenv.HOSTS)
def test_files_holding_secrets_are_private(hosts, converged, host, secret_values):
    """Every file under the Lostops dirs that contains a lab secret value is 0600 (or 0640 root:<container gid>).

    One exception: mysqld's own files in its data directory belong to mysqld's uid
    (MySQL >= 8 generates its RSA key pair for caching_sha2_password there); they
    must still be private (0600/0400)."""
    ti = hosts[host]
    data_dir, mysqld_uid = None, None
    if host == "database":
        data_dir = _state_name(converged, "database", "mysql-data-dir-file-directory").rstrip("/") + "/"
        mysqld_uid = yaml.safe_load(Path(labenv.REPO, "salt/mysql/parameters/defaults.yaml").read_text())["uid"]
    needles = []
    for key, value in secret_values.items():
        if key in secrets.PUBLIC_KEYS:
            continue  # a certificate, an age recipient: public
        lines = [ln for ln in value.splitlines() if len(ln) >= 16 and "-----" not in ln]
        needles.append(lines[0] if lines else value)
    r = ti.run(
        "grep -rlsF " + " ".join(["-e %s"] * len(needles)) + " /etc/lostops /opt/lostops /srv/lostops /var/lib/lostops",
        *needles,
    )
    files = [f for f in r.stdout.split() if f]
    # private keys generated on the host (e.g. MySQL's server key) are secrets too
    keys = ti.run(
        r"grep -rlE -e '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' /etc/lostops /srv/lostops 2>/dev/null"
    ).stdout.split()
    files = sorted(set(files) | set(keys))
    assert files, f"{host}: no file holds any lab secret: is the host converged?"
    bad = []
    for path in files:
        f = ti.file(path)
        mode, uid, gid = f.mode, f.uid, f.gid
        if data_dir and path.startswith(data_dir) and uid == mysqld_uid:
            if mode not in SECRET_MODES_OK:
                bad.append(f"{path}: mysqld's file with mode {mode:04o} (want 0600)")
        elif uid != 0:
            bad.append(f"{path}: owner uid {uid} (want root)")
        elif mode in SECRET_MODES_OK:
            continue
        elif mode in SECRET_MODES_GROUP and gid != 0:
            continue
        else:
            bad.append(f"{path}: mode {mode:04o} gid {gid}")
    print(f"{host}: files with secrets: {files}")
    assert not bad, f"{host}: files holding secrets are too open:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("host", ["backend", "monitoring"])
def test_acme_storage_exists_0600(hosts, converged, host):
    """acme.json exists (0600) even with ACME off in the lab (path from the traefik formula's state)."""
    path = _state_name(converged, host, "traefik-acme-storage-file-managed")
    f = hosts[host].file(path)
    assert f.exists and f.is_file, f"{host}: {path} missing"
    assert f.mode == 0o600, f"{host}: {path} mode {f.mode:04o}"
    assert f.user == "root", f"{host}: {path} owned by {f.user}"


def test_mysql_data_dir_owner(hosts, converged):
    path = _state_name(converged, "database", "mysql-data-dir-file-directory")
    uid = yaml.safe_load(Path(labenv.REPO, "salt/mysql/parameters/defaults.yaml").read_text())["uid"]
    assert uid == 999, "the official MySQL image runs mysqld as uid 999"
    f = hosts["database"].file(path)
    assert f.is_directory, f"database: {path} missing"
    assert f.uid == uid, f"database: {path} owned by uid {f.uid}, want {uid}"
    assert f.mode & 0o007 == 0, f"database: {path} mode {f.mode:04o} is world-accessible"
    # and it is what the running container mounts as /var/lib/mysql
    src = hosts["database"].check_output(
        "docker inspect -f '{{range .Mounts}}{{if eq .Destination \"/var/lib/mysql\"}}{{.Source}}{{end}}{{end}}' "
        "$(docker ps -q --filter label=com.docker.compose.project=mysql --filter label=com.docker.compose.service=mysql)"
    )
    assert src.strip() == path, f"mysql container mounts {src.strip()!r} as /var/lib/mysql, state manages {path!r}"


def test_mysql_backup_timer_active(hosts):
    t = hosts["database"].service("lostops-mysql-backup.timer")
    assert t.is_enabled, "lostops-mysql-backup.timer not enabled"
    assert t.is_running, "lostops-mysql-backup.timer not active"
