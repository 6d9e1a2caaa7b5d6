"""10. Backup, restore and retention of the database (salt/mysql backup, docs/mysql.md).

On the lab's database host (Oracle MySQL 9.7 standing in for production's 8.0;
the real `mysqldump` with the production options, lab.md):

- rows with known values (timestamps too) are written into the app's table;
- `systemctl start lostops-mysql-backup.service` (the unit the timer starts)
  succeeds and writes a complete gzip dump;
- the runbook block of docs/mysql.md ("restore one database into a scratch
  database") is run VERBATIM: it restores the app's database from that dump
  into `restore_check`; every table has the same row count, the same
  `CHECKSUM TABLE ... EXTENDED` and the same md5 of all its rows (ordered) as
  the live one; the documented compare-and-drop block then reports equal
  checksums and drops the scratch database;
- retention: dumps aged with `touch -d` beyond `retention_days` are deleted by
  the next run of the unit, a younger one is kept.
"""

from __future__ import annotations

import re
import shlex
import time

import pytest

from tests.e2e import labenv
from tests.e2e.summary import SUMMARY

DOC = labenv.REPO / "docs" / "mysql.md"
MARKER = "<!-- restore-scratch:"
BACKUP_DIR = "/srv/lostops/mysql/backups"
SCRIPT = "/usr/local/sbin/lostops-mysql-backup"
DB = "lostops"  # pillar app:database:name (formula default), as in the runbook block
SCRATCH = "restore_check"
ROWS = [(1, "2026-01-02 03:04:05"), (41, "2026-06-30 23:59:59"), (1000, None)]


def sql_str(v: str | None) -> str:
    return "NULL" if v is None else "'" + v + "'"


def runbook_blocks() -> tuple[str, str]:
    """The restore block after MARKER and the next sh block (compare and drop)."""
    text = DOC.read_text()
    i = text.index(MARKER)
    blocks = re.findall(r"```sh\n(.*?)```", text[i:], re.S)
    assert len(blocks) >= 2, f"{DOC}: no restore/compare blocks after {MARKER}"
    restore, compare = blocks[0], blocks[1]
    assert f"DB={DB} " in restore and f"SCRATCH={SCRATCH} " in restore, "runbook block changed its names"
    return restore, compare


def mysql_root(lab, sql: str, timeout: int = 60):
    c = "docker compose --project-name mysql --project-directory /opt/lostops/mysql -f /opt/lostops/mysql/compose.yaml"
    return lab.run(
        "database",
        f"{c} exec -T mysql mysql --defaults-extra-file=/run/secrets/lostops/root.cnf -N -e {shlex.quote(sql)}",
        timeout=timeout,
    )


def run_unit(lab) -> tuple[bool, str, float]:
    t0 = time.monotonic()
    r = lab.run(
        "database",
        "systemctl start lostops-mysql-backup.service; rc=$?; "
        "journalctl -u lostops-mysql-backup.service -n 20 --no-pager -o cat; exit $rc",
        timeout=300,
    )
    return r.returncode == 0, r.stdout + r.stderr, time.monotonic() - t0


@pytest.mark.summary("backup and restore")
def test_backup_restore_into_scratch_and_retention(lab, converged):
    restore, compare = runbook_blocks()
    problems, facts = [], []

    # known rows in the app's table (created by the app's migrations at the converge)
    values = ", ".join(f"({n}, {sql_str(ts)}, NOW())" for n, ts in ROWS)
    r = mysql_root(lab, f"INSERT INTO {DB}.counters (`count`, created_at, updated_at) VALUES {values}")
    assert r.returncode == 0, f"insert: {r.stderr.strip()}"

    # retention: one dump beyond retention_days, one within (names sort before any real dump)
    r = lab.run("database", f"grep -o -- '-mtime +[0-9]*' {SCRIPT}")
    m = re.search(r"\+(\d+)", r.stdout)
    assert m, f"no -mtime in {SCRIPT}: {r.stdout} {r.stderr}"
    keep_days = int(m.group(1))
    old_f, young_f = (
        f"{BACKUP_DIR}/all-databases-20000101T000000Z.sql.gz",
        f"{BACKUP_DIR}/all-databases-20000102T000000Z.sql.gz",
    )
    old_age, young_age = keep_days + 6, max(keep_days - 4, 0)
    r = lab.run(
        "database",
        f"echo old > {old_f} && touch -d '{old_age} days ago' {old_f} && "
        f"echo young > {young_f} && touch -d '{young_age} days ago' {young_f}",
    )
    assert r.returncode == 0, r.stderr

    try:
        ok, log, unit_s = run_unit(lab)
        if not ok:
            problems.append(f"lostops-mysql-backup.service failed: {log.strip()[-400:]}")
        r = lab.run("database", f"ls -1 {BACKUP_DIR}/ ; ls -1 {BACKUP_DIR}/all-databases-2*.sql.gz | tail -n 1")
        listing = r.stdout.split()
        newest = listing[-1] if listing else ""
        if old_f.rsplit("/", 1)[1] in listing[:-1]:
            problems.append(f"retention: a dump aged {old_age} days (retention {keep_days}) was not deleted: {listing}")
        else:
            facts.append(f"retention {keep_days} d: a dump aged {old_age} d deleted")
        if young_f.rsplit("/", 1)[1] not in listing[:-1]:
            problems.append(f"retention: a dump aged {young_age} days was deleted: {listing}")
        else:
            facts.append(f"one aged {young_age} d kept")
        if not newest.startswith(f"{BACKUP_DIR}/all-databases-2") or newest in (old_f, young_f):
            problems.append(f"no new dump: {listing}")
        r = lab.run("database", f"gzip -t {newest} && stat -c %s {newest}")
        size = r.stdout.split()[0] if r.stdout.split() else "?"
        if not ok or r.returncode != 0:
            problems.append(f"dump {newest} is not a complete gzip: {r.stderr.strip()}")

        # the runbook, verbatim: restore into the scratch database, then the test's own
        # comparison, then the documented compare-and-drop block
        check = """
echo '### own'
for t in $($M -N -e "SELECT table_name FROM information_schema.tables WHERE table_schema = '$DB' AND table_type = 'BASE TABLE' ORDER BY 1"); do
  for d in "$DB" "$SCRATCH"; do
    n=$($M -N -e "SELECT COUNT(*) FROM \\`$d\\`.\\`$t\\`")
    h=$($M -N -e "SELECT * FROM \\`$d\\`.\\`$t\\` ORDER BY 1" | md5sum | cut -c1-32)
    echo "$t $d $n $h"
  done
done
echo '### compare'
"""
        t0 = time.monotonic()
        r = lab.run(
            "database", restore + check + compare + "\necho '### after'\n$M -N -e 'SHOW DATABASES'\n", timeout=300
        )
        restore_s = time.monotonic() - t0
        out = r.stdout
        if r.returncode != 0 or "### after" not in out:
            problems.append(f"runbook blocks failed (exit {r.returncode}): {(r.stderr or out).strip()[-500:]}")
        else:
            own = out.split("### own", 1)[1].split("### compare", 1)[0].split("\n")
            rows: dict[str, dict[str, tuple[str, str]]] = {}
            for line in own:
                f = line.split()
                if len(f) == 4:
                    rows.setdefault(f[0], {})[f[1]] = (f[2], f[3])
            if "counters" not in rows:
                problems.append(f"no tables compared: {own}")
            for t, by_db in sorted(rows.items()):
                if by_db.get(DB) != by_db.get(SCRATCH):
                    problems.append(f"{t}: live {by_db.get(DB)} != restored {by_db.get(SCRATCH)}")
            n_counters = rows.get("counters", {}).get(DB, ("?",))[0]
            cmp_part = out.split("### compare", 1)[1].split("### after", 1)[0]
            sums: dict[str, dict[str, str]] = {}
            for line in cmp_part.splitlines():
                f = line.split()
                if len(f) == 2 and "." in f[0]:
                    d, t = f[0].split(".", 1)
                    sums.setdefault(t, {})[d] = f[1]
            bad = {t: s for t, s in sums.items() if len(set(s.values())) != 1 or set(s) != {DB, SCRATCH}}
            if not sums or bad:
                problems.append(f"documented CHECKSUM TABLE comparison differs or is missing: {bad or cmp_part[:300]}")
            if SCRATCH in out.split("### after", 1)[1].split():
                problems.append(f"{SCRATCH} was not dropped by the documented block")
            facts.insert(
                0,
                f"dump {newest.rsplit('/', 1)[-1]} ({size} bytes, unit {unit_s:.1f} s) restored by the runbook "
                f"(docs/mysql.md) into {SCRATCH} in {restore_s:.1f} s: {len(rows)} tables identical "
                f"(rows, md5 of all rows, CHECKSUM TABLE; counters {n_counters} rows)",
            )
    finally:
        lab.run("database", f"rm -f {old_f} {young_f}")
        mysql_root(lab, f"DROP DATABASE IF EXISTS {SCRATCH}")

    version = mysql_root(lab, "SELECT VERSION()").stdout.strip() or "?"
    SUMMARY.conclude("backup and restore", problems, f"MySQL {version}, mysqldump: " + "; ".join(facts))
