"""14. The data survives the loss of the database VM: encrypted off-host backups, a disaster-recovery rehearsal.

The lab's storage account is Azurite (npm `azurite`, Microsoft's Azure Storage
emulator: the real Blob API and SAS checks) on the outer machine, at the lab
inventory's `azure.backup.endpoint`; the database host reaches it as it would
reach Azure (HTTP here, HTTPS-only SAS in production). The operator is the
outer machine: its age key (`.lab/backup-operator.key`, made at test time)
and a read+list SAS exist nowhere else.

1. Rows are written THROUGH THE APP: its running container on the backend,
   its own account and TLS connection (the lab app's PDO), into `counters`.
2. `lostops-mysql-backup.service` runs; the blob is in the container, is an
   age file (not a readable dump), and the database host's own SAS is refused
   by Azurite for read, list, overwrite and delete (403 each).
3. The VM is lost: the database host is stopped and its disk (overlay layer,
   data directory, local dumps, Docker directory) deleted; a fresh host boots
   from the base image, is converged with `salt-ssh database state.apply`,
   and the runbook of docs/mysql.md ("restore the newest backup onto a new
   database host") runs VERBATIM on the operator's side. Every table of the
   app's database has the same row count, md5 of all rows and CHECKSUM TABLE
   as before; the app answers through Traefik with the same counter sum.
   RPO (the schedule) and RTO (fresh host to app answering) and each step's
   size and time go to the summary.
4. The storage account stops (Azurite killed): the unit fails, the local dump
   is still there, and MySQLBackupUploadFailing fires through the real
   Prometheus and Alertmanager to the Discord stand-in.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
import time

import pytest

from lostops.inventory import load
from tests.e2e import labenv, labsecrets, probes, saltrun
from tests.e2e.runbook import runbook_blocks, with_lab_values
from tests.e2e.summary import SUMMARY
from tests.e2e.test_11_alerts import sections, shape_problems, webhook_records
from tests.e2e.tls import https_get, name_of, pebble_roots, verified_ctx
from tests.lab import azurite

DB = "lostops"
BACKUP_DIR = "/srv/lostops/mysql/backups"
SAS_FILE = "/etc/lostops/mysql/backup/sas"
METRICS = "/var/lib/node-exporter/textfile/lostops_mysql_backup.prom"
ROWS = 300
ALERT = "MySQLBackupUploadFailing"
ALERT_TIMEOUT = 330
COMPOSE = (
    "docker compose --project-name mysql --project-directory /opt/lostops/mysql -f /opt/lostops/mysql/compose.yaml"
)


def backup_cfg():
    return load("lab").azure.backup


def mysql_root(lab, sql: str, timeout: int = 120):
    return lab.run(
        "database",
        f"{COMPOSE} exec -T mysql mysql --defaults-extra-file=/run/secrets/lostops/root.cnf -N -e {shlex.quote(sql)}",
        timeout=timeout,
    )


def table_sums(lab) -> dict[str, tuple[str, str, str]]:
    """table -> (rows, md5 of all rows ordered, CHECKSUM TABLE EXTENDED) of every base table of DB."""
    script = f"""
M="{COMPOSE} exec -T mysql mysql --defaults-extra-file=/run/secrets/lostops/root.cnf -N"
for t in $($M -e "SELECT table_name FROM information_schema.tables WHERE table_schema = '{DB}' AND table_type = 'BASE TABLE' ORDER BY 1"); do
  n=$($M -e "SELECT COUNT(*) FROM \\`{DB}\\`.\\`$t\\`")
  h=$($M -e "SELECT * FROM \\`{DB}\\`.\\`$t\\` ORDER BY 1" | md5sum | cut -c1-32)
  c=$($M -e "CHECKSUM TABLE \\`{DB}\\`.\\`$t\\` EXTENDED" | awk '{{print $2}}')
  echo "$t $n $h $c"
done
"""
    r = lab.run("database", script, timeout=300)
    assert r.returncode == 0, f"checksums: {r.stderr.strip()[-300:]}"
    out = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) == 4:
            out[f[0]] = (f[1], f[2], f[3])
    return out


def app_container(lab) -> str:
    r = lab.run(
        "backend",
        "docker ps -q --filter label=lostops.app.managed=true --filter status=running | head -n 1",
        timeout=60,
    )
    cid = r.stdout.strip()
    assert cid, f"no running app container on the backend: {r.stderr}"
    return cid


def write_rows_through_the_app(lab, n: int) -> int:
    """INSERT n rows into counters with the app's own PDO connection (its account, over TLS); returns their sum."""
    php = (
        "require '/var/www/html/db.php'; $db = lab_db();"
        "$st = $db->prepare('INSERT INTO counters (`count`, created_at, updated_at) VALUES (?, ?, NOW())');"
        f"for ($i = 1; $i <= {n}; $i++) {{ $st->execute([$i * 7 % 1000, sprintf('2026-%02d-%02d 12:00:00', $i % 12 + 1, $i % 28 + 1)]); }}"
        "echo $db->query('SELECT COALESCE(SUM(`count`), 0) FROM counters')->fetchColumn();"
    )
    r = lab.run("backend", f"docker exec {app_container(lab)} php -r {shlex.quote(php)}", timeout=120)
    assert r.returncode == 0, f"writing through the app failed: {r.stdout} {r.stderr}"
    return int(r.stdout.strip().splitlines()[-1])


def run_unit(lab) -> tuple[int, str, float]:
    t0 = time.monotonic()
    r = lab.run(
        "database",
        "systemctl start lostops-mysql-backup.service; rc=$?; "
        "journalctl -u lostops-mysql-backup.service -n 12 --no-pager -o cat; exit $rc",
        timeout=600,
    )
    return r.returncode, r.stdout + r.stderr, time.monotonic() - t0


def outer_curl(url: str, *args: str) -> tuple[int, bytes]:
    r = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--config", "-", *args],
        input=f'url = "{url}"\n'.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code or 0), body


def host_credential_refusals(lab, blob: str, container: str, endpoint: str) -> dict[str, str]:
    """What Azurite answers the DATABASE HOST's own SAS (from the host, as root) for each forbidden operation."""
    url = f"{endpoint}/{container}"
    script = f"""
sas=$(cat {SAS_FILE})
try() {{ what=$1; shift; printf 'url = "%s"\\n' "$URL" | curl -sS --config - -o /dev/null -w "$what %{{http_code}}\\n" -H 'x-ms-version: 2021-08-06' "$@"; }}
URL="{url}/{blob}?$sas" try read
URL="{url}?restype=container&comp=list&$sas" try list
URL="{url}/{blob}?$sas" try overwrite -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary 'not a backup'
URL="{url}/{blob}?$sas" try delete -X DELETE
"""
    r = lab.run("database", script, timeout=120)
    return dict(line.split() for line in r.stdout.splitlines() if len(line.split()) == 2)


def app_answers(roots: str) -> tuple[int, bytes]:
    try:
        status, _, body = https_get(labenv.host_ip("backend"), name_of("app."), "/", verified_ctx(roots))
    except OSError as exc:
        return 0, str(exc).encode()
    return status, body


def find_alert(records: list[dict], since: float, alertname: str) -> dict | None:
    for rec in records:
        if rec["time"] < since or not isinstance(rec.get("body"), dict):
            continue
        for emb in rec["body"].get("embeds") or []:
            for a in sections(emb.get("description") or "")["firing"]:
                if f"- alertname = {alertname}\n" in a and "- host = database\n" in a:
                    return rec
    return None


@pytest.mark.summary("disaster recovery")
def test_lost_database_vm_is_restored_from_the_storage_account(lab, converged, salt_env, secret_values, ssh_config):
    cfg = backup_cfg()
    endpoint, container = cfg.blob_endpoint, cfg.container
    download, restore = runbook_blocks()
    problems, steps = [], []
    roots = pebble_roots()

    # 1. rows through the app
    t0 = time.monotonic()
    app_sum = write_rows_through_the_app(lab, ROWS)
    steps.append(f"{ROWS} rows written through the app {time.monotonic() - t0:.1f} s")
    before = table_sums(lab)
    assert before.get("counters", ("0",))[0] != "0", f"no rows in {DB}.counters: {before}"

    # 2. backup, and what the storage account holds
    rc, log, unit_s = run_unit(lab)
    assert rc == 0, f"lostops-mysql-backup.service failed: {log.strip()[-600:]}"
    # the journal also holds earlier runs: this run's lines are the last ones
    up = re.findall(r"uploaded: \S+/(database/all-databases-\S+\.age) \((\d+) bytes", log)
    assert up, f"no 'uploaded:' line in the unit's log: {log[-400:]}"
    blob, up_bytes = up[-1][0], int(up[-1][1])
    written = re.findall(r"backup written: \S+ \((\d+) bytes\)", log)
    dump_bytes = int(written[-1]) if written else -1
    steps.append(f"backup unit {unit_s:.1f} s (gzip dump {dump_bytes} B, encrypted upload {up_bytes} B)")
    read_sas = azurite.sas(container, "rl", hours=2)
    code, listing = outer_curl(f"{endpoint}/{container}?restype=container&comp=list&prefix=database/&{read_sas}")
    names = re.findall(rb"<Name>([^<]+)</Name>", listing)
    if code != 200 or blob.encode() not in names:
        problems.append(f"{blob} not listed by the operator's SAS: HTTP {code} {names}")
    code, head = outer_curl(f"{endpoint}/{container}/{blob}?{read_sas}", "-r", "0-63")
    if not head.startswith(b"age-encryption.org/v1\n") or b"CREATE TABLE" in head or head[:2] == b"\x1f\x8b":
        problems.append(f"the blob is not an age file: {head[:40]!r}")
    refusals = host_credential_refusals(lab, blob, container, endpoint)
    want = {k: "403" for k in ("read", "list", "overwrite", "delete")}
    if refusals != want:
        problems.append(f"the database host's SAS was not refused everything: {refusals}")

    # 3. lose the VM, boot a fresh one, converge, restore by the runbook
    t_lost = time.monotonic()
    rebuilt = lab.rebuild("database")
    labenv.close_ssh_masters()
    r = lab.run(
        "database", f"ls {BACKUP_DIR} /srv/lostops/mysql/data 2>&1 | head -n 3; ls /etc/lostops 2>&1", timeout=60
    )
    if "No such file" not in r.stdout:
        problems.append(f"the fresh host still has the old disk: {r.stdout.strip()[:200]}")
    steps.append(
        f"VM lost and a fresh one booted: stop {rebuilt['stop_s']} s, wipe {rebuilt['wipe_s']} s, "
        f"boot to sshd {rebuilt['boot_to_sshd_s']} s"
    )
    run = saltrun.salt_ssh("database", "state.apply", env=salt_env, timeout=900)
    if not (run.rc == 0 and run.ok("database")):
        pytest.fail(
            f"converging the fresh database host failed (exit {run.rc}): "
            + "; ".join(str(f)[:200] for f in run.failures("database")[:3]),
            pytrace=False,
        )
    steps.append(f"converge of the fresh host {run.seconds:.0f} s")
    work = tempfile.mkdtemp(prefix="lostops-restore-")
    values = {
        "ENDPOINT": endpoint,
        "CONTAINER": container,
        "HOST": "database",
        "READ_SAS": read_sas,
        "AGE_KEY": str(labsecrets.OPERATOR_KEY),
        "DB_SSH": f"ssh -F {ssh_config} database",
        "DB": DB,
    }
    t1 = time.monotonic()
    r = subprocess.run(
        ["bash", "-c", with_lab_values(download, values) + with_lab_values(restore, {})],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "LOSTOPS_BACKUP_READ_SAS": read_sas},
    )
    restore_s = time.monotonic() - t1
    if r.returncode != 0:
        pytest.fail(f"the runbook failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-600:]}", pytrace=False)
    if f"newest backup: {blob}" not in r.stdout or "backup.sql.gz.age: OK" not in r.stdout:
        problems.append(f"the runbook did not restore {blob} with a verified checksum: {r.stdout[-300:]}")
    steps.append(f"runbook download + verify + decrypt + restore {restore_s:.1f} s")
    after = table_sums(lab)
    if after != before:
        diff = {t: (before.get(t), after.get(t)) for t in set(before) | set(after) if before.get(t) != after.get(t)}
        problems.append(f"restored tables differ: {diff}")
    got = probes.wait_for(lambda: (lambda s, b: (s, b) if s == 200 else None)(*app_answers(roots)), 120, 2)
    rto = time.monotonic() - t_lost
    if not got or f"counter sum: {app_sum}".encode() not in got[1]:
        problems.append(f"the app through Traefik after the restore: {app_answers(roots)}, want counter sum {app_sum}")
    timer = lab.run(
        "database", "systemctl show lostops-mysql-backup.timer -p TimersCalendar --value", timeout=30
    ).stdout.strip()
    on_calendar = (re.search(r"OnCalendar=([^;]+?)\s*;", timer) or re.search(r"(.*)", timer)).group(1).strip()
    delay = lab.run(
        "database", "systemctl show lostops-mysql-backup.timer -p RandomizedDelayUSec --value", timeout=30
    ).stdout.strip()
    SUMMARY.ok(
        "disaster recovery RTO/RPO",
        f"RTO {rto:.0f} s (VM lost -> fresh host booted, converged, restored by the runbook, app answering through "
        f"Traefik); RPO = the schedule: OnCalendar {on_calendar} + random delay up to {delay} (at most a day of writes)",
    )
    SUMMARY.conclude(
        "disaster recovery",
        problems,
        lambda: (
            f"lost database VM restored from the storage account (Azurite) by the runbook: {len(after)} tables identical "
            f"(rows, md5 of all rows, CHECKSUM TABLE; counters {after['counters'][0]} rows), app counter sum {app_sum} "
            f"through Traefik; blob is age-encrypted; host SAS refused read/list/overwrite/delete (403); "
            + "; ".join(steps)
        ),
    )


@pytest.mark.summary("backup upload alert")
def test_storage_account_down_fires_the_upload_alert_and_keeps_the_local_dump(lab, converged, secret_values):
    url = secret_values["discord_webhook_url"]
    problems = []
    t_stop = time.time()
    lab.outer_stop("azurite")
    try:
        rc, log, unit_s = run_unit(lab)
        if rc == 0:
            problems.append(f"the unit succeeded with the storage account down: {log[-300:]}")
        r = lab.run("database", f"ls -1 {BACKUP_DIR}/all-databases-*.sql.gz | tail -n 1; cat {METRICS}", timeout=60)
        local = r.stdout.splitlines()[0] if r.stdout else ""
        if not local.startswith(f"{BACKUP_DIR}/all-databases-"):
            problems.append(f"no local dump after the failed upload: {r.stdout[:200]}")
        metrics = dict(line.rsplit(" ", 1) for line in r.stdout.splitlines()[1:] if line and not line.startswith("#"))
        if (
            metrics.get('lostops_mysql_backup_last_run_success{stage="upload"}') != "0"
            or metrics.get('lostops_mysql_backup_last_run_success{stage="dump"}') != "1"
        ):
            problems.append(f"metrics after the failed upload: {json.dumps(metrics)[:300]}")
        firing = probes.wait_for(lambda: find_alert(webhook_records(lab), t_stop, ALERT), ALERT_TIMEOUT, 5)
    finally:
        lab.outer_start()
        # the account is back: the next run succeeds and the alert resolves
        rc_again, log_again, _ = run_unit(lab)
        if rc_again != 0:
            problems.append(f"the unit still fails with the storage account back: {log_again.strip()[-300:]}")
    if not firing:
        problems.append(f"no firing {ALERT}(host=database) message within {ALERT_TIMEOUT} s (.lab/outer/webhook.jsonl)")
        SUMMARY.conclude("backup upload alert", problems, "")
        return
    problems += [f"firing: {p}" for p in shape_problems(firing, url)]
    SUMMARY.conclude(
        "backup upload alert",
        problems,
        f"storage account stopped -> unit failed in {unit_s:.1f} s, local dump {local.rsplit('/', 1)[-1]} kept, "
        f"{ALERT} through the real Alertmanager to the Discord stand-in in {firing['time'] - t_stop:.0f} s",
    )
