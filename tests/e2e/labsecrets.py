"""Throw-away secrets for the lab, written with the project's own `lostops secrets write`."""

from __future__ import annotations

import base64
import os
import re
import secrets as pysecrets
import subprocess
from pathlib import Path

from tests.e2e.labenv import CREDENTIALS, LAB_DIR, LOSTOPS, REPO, SECRETS_FILE, salt_env

# The operators' age key of the lab (generated at test time, 0600, never on a
# host): the runbook restores with it (docs/mysql.md, tests/e2e/test_14_*).
OPERATOR_KEY = LAB_DIR / "backup-operator.key"


def operator_key() -> tuple[str, str]:
    """(path of the operators' age identity, its public key); created once per lab directory."""
    if not OPERATOR_KEY.exists():
        subprocess.run(["age-keygen", "-o", str(OPERATOR_KEY)], check=True, capture_output=True)
    os.chmod(OPERATOR_KEY, 0o600)
    pub = subprocess.run(["age-keygen", "-y", str(OPERATOR_KEY)], check=True, capture_output=True, text=True)
    return str(OPERATOR_KEY), pub.stdout.strip()


def _mysql_ca() -> tuple[str, str]:
    """A throw-away MySQL CA from the project's own `lostops mysql-ca` (as production makes it)."""
    r = subprocess.run(
        [str(LOSTOPS), "mysql-ca", "--cn", "Lostops lab MySQL CA"], capture_output=True, text=True, check=True, cwd=REPO
    )
    vals = dict(re.findall(r"^export (\w+)='([^']*)'", r.stdout, re.M))
    return vals["LOSTOPS_SECRET_MYSQL_CA_CERT"], vals["LOSTOPS_SECRET_MYSQL_CA_KEY"]


def _bcrypt(password: str) -> str:
    """A bcrypt hash as `htpasswd -nbB` writes it ($2y$, cost 05: the pre-flight accepts bcrypt only).

    From the C library's crypt(3) (libxcrypt) through Python's crypt module (3.11,
    the project's Python); $2b$ and $2y$ are the same algorithm.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**5))
    if not hashed or not hashed.startswith("$2b$05$"):
        raise AssertionError("this machine's crypt(3) has no bcrypt")
    return "$2y$" + hashed[4:]


def lab_secret_values(prometheus_password: str) -> dict[str, str]:
    """Well-formed test values for every key of lostops/secrets.py SPEC (and nothing else)."""
    from lostops import secrets as spec

    cert, key = _mysql_ca()
    tok = lambda: pysecrets.token_hex(12)
    values = {
        "mysql_root_password": "lab-root-" + tok(),
        "mysql_app_password": "lab-app-" + tok(),
        "mysql_exporter_password": "lab-exporter-" + tok(),
        "mysql_ca_cert": cert,
        "mysql_ca_key": key,
        "app_key": "base64:" + base64.b64encode(pysecrets.token_bytes(32)).decode(),
        "grafana_admin_password": "lab-grafana-" + tok(),
        "discord_webhook_url": "https://discord.com/api/webhooks/000000/lab-e2e-" + tok(),
        "prometheus_basic_auth": "prometheus:" + _bcrypt(prometheus_password),
    }
    # Off-host backups (lab inventory azure.backup = Azurite): the database
    # host's create-only SAS, signed by the project's own signer with Azurite's
    # development key, and the operators' public key.
    from tests.lab import azurite
    from tests.lab.network import backup_container

    values["backup_sas_token"] = azurite.sas(backup_container(), "c", hours=7 * 24)
    values["backup_age_recipient"] = operator_key()[1]
    missing = set(spec.SPEC) - set(values)
    if missing:  # the SPEC grew: this tier must learn the new key
        raise AssertionError(f"tests/e2e/labsecrets.py has no lab value for secrets {sorted(missing)}")
    return values


def write_lab_secrets(lab_env: dict[str, str], path: Path = SECRETS_FILE) -> dict[str, str]:
    """Write the lab secrets with the real `lostops secrets write` (mode 0600).

    The plain Prometheus login behind the htpasswd secret goes to
    .lab/credentials (0600, `credentials()`), for the browser test and `make lab`."""
    prometheus_password = "lab-prom-" + pysecrets.token_hex(12)
    values = lab_secret_values(prometheus_password)
    env = salt_env(lab_env, path)
    for k, v in values.items():
        env["LOSTOPS_SECRET_" + k.upper()] = v
    r = subprocess.run(
        [str(LOSTOPS), "secrets", "write"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise AssertionError(f"lostops secrets write failed: {r.stderr.strip() or r.stdout.strip()}")
    fd = os.open(CREDENTIALS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(
            f"# lab only, throw-away values\nprometheus_user=prometheus\nprometheus_password={prometheus_password}\n"
        )
    return values


def credentials() -> dict[str, str]:
    """The throw-away logins of the lab (.lab/credentials), {} when there are none."""
    if not CREDENTIALS.exists():
        return {}
    pairs = (line.split("=", 1) for line in CREDENTIALS.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.startswith("#")}
