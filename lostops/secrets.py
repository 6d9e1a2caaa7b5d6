"""Pillar secrets: one git-ignored YAML file, written from environment variables.

``lostops secrets write`` (``make secrets``) writes ``pillar/secrets.yaml`` (mode 0600) from
``LOSTOPS_SECRET_<KEY>`` variables; :func:`check` is the pre-flight check the
Salt pillar runs before any state touches a host. Every message is one line
naming the key.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

from lostops import roles
from lostops.inventory import REPO_ROOT, Inventory, InventoryError, load

ENV_FILE = "LOSTOPS_SECRETS_FILE"
DEFAULT_FILE = REPO_ROOT / "pillar" / "secrets.yaml"
ENV_PREFIX = "LOSTOPS_SECRET_"
PLACEHOLDER = "CHANGEME"

# key -> (format check or None, what it is). Which roles need a key is said
# once, in lostops/roles.py (Role.secrets / Role.optional_secrets).
FORMATS: dict[str, tuple[str | None, str]] = {
    "mysql_root_password": (r".{16,}", "MySQL root password (16+ characters)"),
    "mysql_app_password": (r".{16,}", "password of the app's MySQL user (16+ characters)"),
    # No `$`: mysqld_exporter runs os.ExpandEnv over its my.cnf (no escape).
    "mysql_exporter_password": (
        r"[^$\r\n]{16,}",
        "password of mysqld_exporter's MySQL user (16+ characters, one line, no `$`: mysqld_exporter expands $VAR)",
    ),
    "mysql_ca_cert": (
        r"-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*",
        "PEM CA certificate for MySQL TLS (lostops mysql-ca)",
    ),
    "mysql_ca_key": (
        r"-----BEGIN (EC |RSA )?PRIVATE KEY-----[\s\S]+-----END (EC |RSA )?PRIVATE KEY-----\s*",
        "PEM private key of the MySQL CA (lostops mysql-ca)",
    ),
    "app_key": (r"base64:[A-Za-z0-9+/]{43}=", "Laravel APP_KEY (php artisan key:generate --show)"),
    "grafana_admin_password": (r".{12,}", "Grafana admin password (12+ characters)"),
    "discord_webhook_url": (
        r"https://(discord\.com|discordapp\.com)/api/webhooks/\S+",
        "Discord webhook URL for alerts",
    ),
    "prometheus_basic_auth": (
        r"[A-Za-z0-9._-]+:\$(2[aby]|apr1)\$\S+",
        "htpasswd line for Prometheus behind Traefik (htpasswd -nbB user password)",
    ),
}
# Optional keys: checked only when present. key -> what it is
OPTIONAL_FORMATS: dict[str, str] = {
    "registry_password": "token that may pull the app image from GHCR (read:packages)",
    "traefik_dashboard_auth": "htpasswd line for the Traefik dashboard, when pillar enables it",
}

# Derived: key -> (roles that need it, format check or None, what it is).
SPEC: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    key: (roles.needing_secret(key), pattern, what) for key, (pattern, what) in FORMATS.items()
}
# Derived: key -> (roles that get it, what it is)
OPTIONAL: dict[str, tuple[tuple[str, ...], str]] = {
    key: (roles.needing_secret(key, optional=True), what) for key, what in OPTIONAL_FORMATS.items()
}


def _check_table() -> None:
    """Every key a role names has a format here, and every key here is needed by some role."""
    named = {k for r in roles.ROLES.values() for k in r.secrets}
    named_optional = {k for r in roles.ROLES.values() for k in r.optional_secrets}
    problems = sorted(named - set(FORMATS)) + sorted(named_optional - set(OPTIONAL_FORMATS))
    problems += sorted(k for k, (need, _, _) in SPEC.items() if not need)
    problems += sorted(k for k, (get, _) in OPTIONAL.items() if not get)
    if problems:
        raise RuntimeError(f"lostops/roles.py and lostops/secrets.py disagree about secrets: {', '.join(problems)}")


_check_table()


class SecretError(ValueError):
    """A one-line problem with a secret."""


def path() -> Path:
    return Path(os.environ.get(ENV_FILE) or DEFAULT_FILE)


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def read(file: Path | None = None) -> dict:
    file = file or path()
    if not file.exists():
        return {}
    data = yaml.safe_load(file.read_text()) or {}
    if not isinstance(data, dict):
        raise SecretError(f"{file}: must be a mapping of secret names to values")
    unknown = sorted(set(data) - set(SPEC) - set(OPTIONAL))
    if unknown:
        raise SecretError(f"secrets.{unknown[0]}: unknown key in {file}")
    return {k: ("" if v is None else str(v)) for k, v in data.items()}


def for_role(values: dict, role: str) -> dict:
    """Only the secrets a host of `role` needs (lostops/roles.py): the backend never sees the MySQL root password."""
    spec = roles.get(role)
    wanted = set(spec.secrets) | set(spec.optional_secrets)
    return {k: v for k, v in values.items() if k in wanted}


def required_keys(inv: Inventory) -> list[str]:
    """The keys some role of the inventory needs, in SPEC order."""
    needed = {k for h in inv.hosts.values() for k in roles.get(h.role).secrets}
    return [key for key in SPEC if key in needed]


def check(values: dict, inv: Inventory, file: Path | None = None) -> None:
    """Pre-flight: every secret the inventory's roles need is set and well-formed.

    Checks all roles, not only the minion being rendered, so that a missing
    secret stops the run on every host before any state changes one.
    """
    file = file or path()
    for key in required_keys(inv):
        value = values.get(key, "")
        if not value:
            raise SecretError(f"secrets.{key}: missing from {file} (set {env_name(key)} and run `make secrets`)")
        _check_value(key, value)
    for key in OPTIONAL:
        if key in values and values[key].startswith(PLACEHOLDER):
            raise SecretError(f"secrets.{key}: still the placeholder from secrets.yaml.example")


def _check_value(key: str, value: str) -> None:
    if value.startswith(PLACEHOLDER):
        raise SecretError(f"secrets.{key}: still the placeholder from secrets.yaml.example")
    pattern = SPEC[key][1]
    if pattern and not re.fullmatch(pattern, value):
        raise SecretError(f"secrets.{key}: not a valid {SPEC[key][2]}")


def from_environment(env: dict, inv: Inventory) -> dict:
    """Collect the secrets from LOSTOPS_SECRET_* variables; raise on the first missing one."""
    values = {}
    for key in required_keys(inv):
        value = env.get(env_name(key), "")
        if not value:
            raise SecretError(f"{env_name(key)}: not set (secrets.{key}: {SPEC[key][2]})")
        _check_value(key, value)
        values[key] = value
    for key in OPTIONAL:
        if env.get(env_name(key)):
            values[key] = env[env_name(key)]
    return values


def write(values: dict, file: Path | None = None) -> Path:
    """Write atomically with mode 0600 (never world-readable, not even briefly)."""
    file = file or path()
    tmp = file.with_name(f".{file.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# Written by lostops secrets write (make secrets). Do not commit (git-ignored).\n")
        yaml.safe_dump(values, fh, default_flow_style=False, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, file)
    return file


def run_write(env: dict) -> int:
    """`lostops secrets write`: the file from LOSTOPS_SECRET_* in `env` (values never printed); 2 with one line per problem."""
    try:
        inv = load()
        values = from_environment(env, inv)
        out = write(values)
    except (InventoryError, SecretError) as exc:
        for line in str(exc).splitlines():
            print(f"write-secrets: {line}", file=sys.stderr)
        return 2
    print(f"write-secrets: wrote {len(values)} secrets to {out} (mode 0600)")
    return 0
