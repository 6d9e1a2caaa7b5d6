"""The backup script (salt/mysql/files/backup.jinja) against a real Blob API: Azurite.

The script is rendered with the context salt/mysql/backup.sls gives it and
run as it runs on the database host, with real gzip, age, openssl and curl,
against Azurite (npm `azurite`, tools/azurite) on a loopback port. Only the
dump itself is a stand-in: `compose ... exec -T mysql mysqldump ...` is a
small script that prints SQL (or fails), because no MySQL runs in this tier
(the end-to-end tier runs the real unit against the lab's database).

Checked: the dump is kept locally as gzip; what is uploaded is an age file
that only the operator's key opens, identical to the local dump; the host's create-only SAS is refused by Azurite for read, list, overwrite,
delete and Put Block (so a dump goes up in one Put Blob); the
textfile metrics (last success, duration, size, failures per step) are right
after a success, after an upload failure (storage account stopped: the
local dump is still there) and after a dump failure; counters survive runs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import jinja2
import pytest

from tests.e2e.runbook import runbook_blocks, with_lab_values
from tests.lab import azurite
from tests.unit import blobstore

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "salt" / "mysql" / "files" / "backup.jinja"
CONTAINER = blobstore.CONTAINER
API = "2021-08-06"
pytestmark = pytest.mark.azurite  # conftest.py starts Azurite at collection


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def curl(url: str, *args: str) -> tuple[int, bytes]:
    r = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--config", "-", *args],
        input=f'url = "{url}"\n'.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code or 0), body


@pytest.fixture(scope="module")
def storage():
    try:
        return {"endpoint": blobstore.endpoint()}
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def operator_key(tmp_path_factory) -> tuple[Path, str]:
    key = tmp_path_factory.mktemp("operator") / "operator.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    pub = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    return key, pub


def render(tmp: Path, endpoint: str, max_put_bytes: int = 5242880000, dump_rc: int = 0, rows: int = 50) -> Path:
    """The script as Salt renders it, with a stand-in for `docker compose` that prints a dump."""
    fake = tmp / "compose"
    fake.write_text(
        "#!/bin/sh\n"
        f'[ "$1 $2 $3 $4" = "exec -T mysql mysqldump" ] || {{ echo "unexpected: $*" >&2; exit 3; }}\n'
        f"[ {dump_rc} = 0 ] || {{ echo 'mysqldump: Got error: 2002' >&2; exit {dump_rc}; }}\n"
        "echo '-- MySQL dump 10.13'\n"
        f"seq 1 {rows} | sed 's/.*/INSERT INTO t VALUES (&, \"row &\");/'\n"
        "echo '-- Dump completed'\n"
    )
    fake.chmod(0o755)
    (tmp / "etc").mkdir(exist_ok=True)
    text = (
        jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        .from_string(TEMPLATE.read_text())
        .render(
            dir=str(tmp / "backups"),
            retention_days=3,
            dump_binary="mysqldump",
            extra_args=["--hex-blob"],
            root_cnf="/run/secrets/lostops/root.cnf",
            compose=str(fake),
            textfile_dir=str(tmp / "textfile"),
            offsite=True,
            endpoint=endpoint,
            container=CONTAINER,
            prefix=tmp.name,  # the minion id in production; one per test here
            sas_file=str(tmp / "etc" / "sas"),
            recipients_file=str(tmp / "etc" / "recipients"),
            max_put_bytes=max_put_bytes,
            api_version=API,
        )
    )
    script = tmp / "lostops-mysql-backup"
    script.write_text(text)
    script.chmod(0o750)
    (tmp / "backups").mkdir(exist_ok=True, mode=0o700)
    return script


def run(script: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(script)], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture()
def host(tmp_path, storage, operator_key):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "sas").write_text(azurite.sas(CONTAINER, "c"))
    (tmp_path / "etc" / "recipients").write_text(operator_key[1] + "\n")
    return tmp_path


def newest_blob(endpoint: str, prefix: str) -> str:
    """The operator's view: list with the read+list SAS, take the newest name."""
    code, body = curl(
        f"{endpoint}/{CONTAINER}?restype=container&comp=list&prefix={prefix}/&{azurite.sas(CONTAINER, 'rl')}"
    )
    assert code == 200, body
    return sorted(re.findall(rb"<Name>([^<]+)</Name>", body))[-1].decode()


def download_and_decrypt(endpoint: str, blob: str, key: Path, tmp: Path) -> bytes:
    code, data = curl(f"{endpoint}/{CONTAINER}/{blob}?{azurite.sas(CONTAINER, 'rl')}")
    assert code == 200
    assert data.startswith(b"age-encryption.org/v1\n"), "the blob is not an age file"
    enc = tmp / "download.age"
    enc.write_bytes(data)
    r = subprocess.run(["age", "--decrypt", "-i", str(key), str(enc)], capture_output=True, check=True)
    return r.stdout


def test_success_uploads_an_encrypted_copy_only_the_operator_opens(host, storage, operator_key):
    script = render(host, storage["endpoint"], rows=20000)
    r = run(script)
    assert r.returncode == 0, r.stdout + r.stderr
    dumps = sorted((host / "backups").glob("all-databases-*.sql.gz"))
    assert len(dumps) == 1
    assert "uploaded: " in r.stdout
    blob = newest_blob(storage["endpoint"], host.name)
    assert blob == f"{host.name}/{dumps[0].name}.age"
    plain = download_and_decrypt(storage["endpoint"], blob, operator_key[0], host)
    assert plain == dumps[0].read_bytes(), "the uploaded backup is not the local dump"
    m = metrics(host / "textfile" / "lostops_mysql_backup.prom")
    assert m['lostops_mysql_backup_last_run_success{stage="dump"}'] == 1
    assert m['lostops_mysql_backup_last_run_success{stage="upload"}'] == 1
    assert m["lostops_mysql_backup_last_success_timestamp_seconds"] >= time.time() - 60
    assert m['lostops_mysql_backup_size_bytes{file="dump"}'] == dumps[0].stat().st_size
    assert m['lostops_mysql_backup_size_bytes{file="upload"}'] > m['lostops_mysql_backup_size_bytes{file="dump"}']
    assert m['lostops_mysql_backup_failures_total{stage="upload"}'] == 0
    assert m["lostops_mysql_backup_credential_expiry_timestamp_seconds"] > time.time() + 3600
    assert 0 <= m["lostops_mysql_backup_duration_seconds"] < 60
    # 0600 in 0700: root only
    assert oct(dumps[0].stat().st_mode & 0o777) == "0o600"


def test_the_hosts_sas_cannot_read_list_overwrite_or_delete(host, storage):
    script = render(host, storage["endpoint"])
    r = run(script)
    assert r.returncode == 0, r.stdout
    blob = newest_blob(storage["endpoint"], host.name)
    ep, c = storage["endpoint"], azurite.sas(CONTAINER, "c")
    url = f"{ep}/{CONTAINER}/{blob}?{c}"
    refused = {
        "read": curl(url)[0],
        "list": curl(f"{ep}/{CONTAINER}?restype=container&comp=list&{c}")[0],
        "overwrite": curl(
            url, "-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "-H", f"x-ms-version: {API}", "--data-binary", "x"
        )[0],
        "delete": curl(url, "-X", "DELETE", "-H", f"x-ms-version: {API}")[0],
        # Put Block needs the write permission: block uploads are refused too,
        # which is why the script sends one Put Blob (salt/mysql/parameters: max_put_bytes).
        "put block": curl(
            f"{ep}/{CONTAINER}/{host.name}/new.age?comp=block&blockid=YmxvY2stMDAwMDAw&{c}",
            "-X",
            "PUT",
            "-H",
            f"x-ms-version: {API}",
            "--data-binary",
            "x",
        )[0],
    }
    assert refused == {k: 403 for k in refused}
    # ...whereas create+write may overwrite: why the pre-flight accepts sp=c only (lostops/secrets.py)
    cw = azurite.sas(CONTAINER, "cw")
    code, _ = curl(
        f"{ep}/{CONTAINER}/{blob}?{cw}", "-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "-H", f"x-ms-version: {API}",
        "--data-binary", "x",
    )  # fmt: skip
    assert code == 201


def test_upload_failure_keeps_the_local_dump_and_says_so(host, storage, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/{azurite.ACCOUNT}"  # nothing listens: the account is "down"
    script = render(host, dead)
    r1 = run(script)
    assert r1.returncode == 1
    assert "upload FAILED" in r1.stdout
    m = metrics(host / "textfile" / "lostops_mysql_backup.prom")
    assert m['lostops_mysql_backup_last_run_success{stage="dump"}'] == 1
    assert m['lostops_mysql_backup_last_run_success{stage="upload"}'] == 0
    assert m['lostops_mysql_backup_failures_total{stage="upload"}'] == 1
    assert m["lostops_mysql_backup_last_success_timestamp_seconds"] == 0
    assert m['lostops_mysql_backup_last_stage_success_timestamp_seconds{stage="dump"}'] > 0
    assert len(list((host / "backups").glob("all-databases-*.sql.gz"))) == 1
    assert run(script).returncode == 1
    m = metrics(host / "textfile" / "lostops_mysql_backup.prom")
    assert m['lostops_mysql_backup_failures_total{stage="upload"}'] == 2, "the counter must survive runs"
    assert not list((host / "backups").glob(".work.*")), "temporary files left behind"


def test_a_dump_larger_than_one_put_blob_is_refused_with_one_line(host, storage):
    r = run(render(host, storage["endpoint"], max_put_bytes=100))
    assert r.returncode == 1
    assert "more than one Put Blob may carry (100)" in r.stdout
    m = metrics(host / "textfile" / "lostops_mysql_backup.prom")
    assert m['lostops_mysql_backup_last_run_success{stage="upload"}'] == 0


def test_dump_failure_is_counted_and_nothing_is_uploaded(host, storage):
    script = render(host, storage["endpoint"], dump_rc=2)
    r = run(script)
    assert r.returncode == 1
    assert "backup FAILED" in r.stdout
    m = metrics(host / "textfile" / "lostops_mysql_backup.prom")
    assert m['lostops_mysql_backup_last_run_success{stage="dump"}'] == 0
    assert m['lostops_mysql_backup_last_run_success{stage="upload"}'] == 0
    assert m['lostops_mysql_backup_failures_total{stage="dump"}'] == 1
    assert m['lostops_mysql_backup_failures_total{stage="upload"}'] == 0
    assert not list((host / "backups").glob("all-databases-*"))


def test_local_copies_older_than_the_retention_are_deleted(host, storage):
    script = render(host, storage["endpoint"])
    old, young = (
        host / "backups" / "all-databases-20000101T000000Z.sql.gz",
        host / "backups" / "all-databases-20000102T000000Z.sql.gz",
    )
    old.write_text("old")
    young.write_text("young")
    now = time.time()
    os.utime(old, (now - 5 * 86400, now - 5 * 86400))
    os.utime(young, (now - 2 * 86400, now - 2 * 86400))
    assert run(script).returncode == 0
    assert not old.exists() and young.exists()


def test_the_runbook_finds_verifies_decrypts_and_restores_the_newest_backup(
    host, storage, operator_key, tmp_path_factory
):
    """docs/mysql.md's off-host runbook blocks, verbatim but for their variables, against Azurite.

    The database host's SSH is a stand-in that keeps what would reach the
    mysql client; the end-to-end tier runs the same blocks against the lab."""
    # an older backup (by its name) that the runbook must pass over
    older = f"{storage['endpoint']}/{CONTAINER}/{host.name}/all-databases-20000101T000000Z.sql.gz.age?{azurite.sas(CONTAINER, 'c')}"
    code, _ = curl(
        older, "-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "-H", f"x-ms-version: {API}", "--data-binary", "old"
    )
    assert code == 201
    script = render(host, storage["endpoint"])
    dump = (
        "-- MySQL dump 10.13\n/*!40101 SET NAMES utf8mb4 */;\n"
        "-- Current Database: `mysql`\nCREATE DATABASE mysql;\nUSE `mysql`;\nINSERT INTO user VALUES ('root');\n"
        "-- Current Database: `lostops`\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `lostops`;\nUSE `lostops`;\n"
        "INSERT INTO counters VALUES (1,41);\n"
        "-- Current Database: `sys`\nCREATE DATABASE sys;\n"
    )
    fake = host / "compose"
    fake.write_text("#!/bin/sh\ncat <<'SQL'\n" + dump + "SQL\n")
    assert run(script).returncode == 0
    newest = newest_blob(storage["endpoint"], host.name)
    received = host / "received.sql"
    ssh = host / "ssh-database"
    ssh.write_text(
        f'#!/bin/sh\ncase "$1" in sudo\\ docker\\ compose*exec\\ -T\\ mysql\\ mysql\\ --defaults-extra-file=*) cat > {received} ;; *) exit 9 ;; esac\n'
    )
    ssh.chmod(0o755)
    download, restore = runbook_blocks()
    values = {
        "ENDPOINT": storage["endpoint"],
        "CONTAINER": CONTAINER,
        "HOST": host.name,
        "READ_SAS": azurite.sas(CONTAINER, "rl"),
        "AGE_KEY": str(operator_key[0]),
        "DB_SSH": str(ssh),
        "DB": "lostops",
    }
    work = tmp_path_factory.mktemp("operator-work")
    r = subprocess.run(
        ["bash", "-c", with_lab_values(download, values) + with_lab_values(restore, {})],
        cwd=work, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"newest backup: {newest}" in r.stdout and "backup.sql.gz.age: OK" in r.stdout
    got = received.read_text()
    assert "INSERT INTO counters VALUES (1,41);" in got and "SET NAMES" in got
    assert "INSERT INTO user" not in got and "CREATE DATABASE sys" not in got
    assert not list(work.iterdir()), "the runbook leaves the downloaded backup behind"
