"""Pillar secrets: one git-ignored YAML file, written from environment variables.

``lostops secrets write`` (``make secrets``) writes ``pillar/secrets.yaml`` (mode 0600) from
``LOSTOPS_SECRET_<KEY>`` variables; :func:`check` is the pre-flight check the
Salt pillar runs before any state touches a host. Every message is one line
naming the key.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs

import yaml

from lostops import roles
from lostops.inventory import REPO_ROOT, Inventory, InventoryError, load
from lostops.privatefile import write_private
from lostops.yamlload import NotUtf8Error, YamlInputError, compose_strict, decode_utf8

ENV_FILE = "LOSTOPS_SECRETS_FILE"
DEFAULT_FILE = REPO_ROOT / "pillar" / "secrets.yaml"
ENV_PREFIX = "LOSTOPS_SECRET_"
PLACEHOLDER = "CHANGEME"
# An htpasswd line with a bcrypt hash (htpasswd -nbB user password): user, `$2y$`
# (or 2a/2b), a two-digit cost 04-31, 22 characters of salt and 31 of hash.
HTPASSWD_BCRYPT = r"[A-Za-z0-9._-]{1,64}:\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}"

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
        HTPASSWD_BCRYPT,
        "bcrypt htpasswd line for Prometheus behind Traefik (htpasswd -nbB user password)",
    ),
}
# Optional keys: checked only when present. key -> what it is
OPTIONAL_FORMATS: dict[str, str] = {
    "registry_password": "token that may pull the app image from GHCR (read:packages)",
    "traefik_dashboard_auth": "bcrypt htpasswd line for the Traefik dashboard (htpasswd -nbB user password)",
    "backup_sas_token": "create-only SAS of the backup container (sp=c, with an expiry; docs/mysql.md)",
    "backup_age_recipient": "age public key the backups are encrypted to (age-keygen -y operator.key)",
}
# The format of an optional key, when it has one.
OPTIONAL_PATTERNS: dict[str, str] = {
    "traefik_dashboard_auth": HTPASSWD_BCRYPT,
    # age's Bech32 recipient: "age1" + 58 characters of the Bech32 alphabet.
    "backup_age_recipient": r"age1[02-9ac-hj-np-z]{58}",
}
# Optional keys that the inventory's azure.backup (off-host backups) makes required.
BACKUP_KEYS = ("backup_sas_token", "backup_age_recipient")
# Keys of this file whose values are public (a certificate, an age recipient):
# kept with the secrets for one delivery path, but a host may keep them readable.
PUBLIC_KEYS = frozenset({"mysql_ca_cert", "backup_age_recipient"})

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


_STR = "tag:yaml.org,2002:str"


def read(file: Path | None = None) -> dict:
    """The secrets file, read strictly: a mapping of known keys to strings, each key once.

    Every problem is one line naming the key and its line and column, never a
    value (a YAML error's own text can quote the file, so only its position is shown).
    """
    file = file or path()
    if not file.exists():
        return {}
    try:
        text = decode_utf8(file.read_bytes())
    except OSError as exc:
        raise SecretError(f"{file}: cannot read ({exc.strerror})") from None
    except NotUtf8Error as exc:
        raise SecretError(f"{file}: {exc}") from None
    try:
        root = compose_strict(text)
    except YamlInputError as exc:
        raise SecretError(f"{file}: not valid YAML ({exc.where() or 'nesting'}); no value is shown") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise SecretError(f"{file}: not valid YAML ({where}); no value is shown") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise SecretError(f"{file}: must be a mapping of secret names to values")
    values: dict[str, str] = {}
    for key_node, value_node in root.value:
        at = f"line {key_node.start_mark.line + 1}, column {key_node.start_mark.column + 1}"
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
            raise SecretError(f"{file}: a key that is not a plain name ({at})")
        key = key_node.value
        name = f"secrets.{key}" if key.isidentifier() else f"secrets.{key!r:.40}"
        if key not in SPEC and key not in OPTIONAL:
            raise SecretError(f"{name}: unknown key in {file} ({at})")
        if key in values:
            raise SecretError(f"{name}: duplicate key in {file} ({at})")
        vat = f"line {value_node.start_mark.line + 1}, column {value_node.start_mark.column + 1}"
        if not isinstance(value_node, yaml.ScalarNode) or value_node.tag != _STR:
            kind = {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(
                type(value_node), value_node.tag.rsplit(":", 1)[-1]
            )
            raise SecretError(f"{name}: must be a string, not {kind} ({vat} in {file}); quote the value")
        values[key] = value_node.value
    return values


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
    if inv.azure.backup is not None:
        for key in BACKUP_KEYS:
            if not values.get(key):
                raise SecretError(
                    f"secrets.{key}: missing from {file} (inventory azure.backup needs it; "
                    f"set {env_name(key)} and run `make secrets`)"
                )
    for key in OPTIONAL:
        if key in values:
            _check_value(key, values[key], inv)


def _check_value(key: str, value: str, inv: Inventory | None = None) -> None:
    """One line naming the key, never the value."""
    if not isinstance(value, str):
        raise SecretError(f"secrets.{key}: must be a string")
    if value.startswith(PLACEHOLDER):
        raise SecretError(f"secrets.{key}: still the placeholder from secrets.yaml.example")
    if "\r" in value:
        # A value with a carriage return reaches one consumer intact and another
        # stripped (MySQL took the new password, the backend's config did not).
        raise SecretError(f"secrets.{key}: contains a carriage return (\\r, a Windows line end?); remove it")
    if "\x00" in value:
        raise SecretError(f"secrets.{key}: contains a NUL character")
    pattern, what = (SPEC[key][1], SPEC[key][2]) if key in SPEC else (OPTIONAL_PATTERNS.get(key), OPTIONAL[key][1])
    if pattern and not re.fullmatch(pattern, value):
        raise SecretError(f"secrets.{key}: not a valid {what}")
    if key == "backup_sas_token":
        backup = inv.azure.backup if inv is not None else None
        problem = sas_problem(value, https_only=backup is None or backup.blob_endpoint.startswith("https://"))
        if problem:
            raise SecretError(f"secrets.{key}: {problem}")


def sas_problem(token: str, https_only: bool = True, now: dt.datetime | None = None) -> str | None:
    """Why `token` is not a create-only container SAS for the database host, or None.

    Create (``sp=c``) alone: the host adds new blobs and Azure refuses it to
    read, list, overwrite or delete (and to stage blocks, which needs write).
    With an expiry (``se``) still in the future, on the container (``sr=c``),
    signed (``sig``), and HTTPS only (``spr=https``) unless the endpoint is the
    lab's plain-http emulator. The token itself is never part of a message."""
    if token.startswith("?") or re.search(r"\s", token):
        return "the SAS query string without a leading '?' and without blanks"
    q = {k: v[0] for k, v in parse_qs(token, keep_blank_values=True).items()}
    for field in ("sv", "sp", "se", "sr", "sig"):
        if not q.get(field):
            return f"not a SAS token (no {field}=)"
    if q["sp"] != "c":
        return f"permissions sp={q['sp']!r:.20}: the database host may only create blobs (sp=c)"
    if q["sr"] != "c":
        return f"resource sr={q['sr']!r:.20}: a container SAS (sr=c) is expected"
    if https_only and q.get("spr") != "https":
        return "protocol: the SAS must be HTTPS only (spr=https)"
    try:
        expiry = dt.datetime.fromisoformat(q["se"].replace("Z", "+00:00"))
    except ValueError:
        return f"expiry se={q['se']!r:.40} is not an ISO 8601 time"
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=dt.UTC)
    if expiry <= (now or dt.datetime.now(dt.UTC)):
        return f"expired at {q['se']:.40} (rotate it: docs/mysql.md, 'Rotating the backup SAS')"
    return None


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
            _check_value(key, env[env_name(key)], inv)
            values[key] = env[env_name(key)]
    if inv.azure.backup is not None:
        for key in BACKUP_KEYS:
            if key not in values:
                raise SecretError(
                    f"{env_name(key)}: not set (inventory azure.backup needs secrets.{key}: {OPTIONAL[key][1]})"
                )
    return values


def write(values: dict, file: Path | None = None) -> Path:
    """Write atomically with mode 0600 (never world-readable, not even briefly; lostops/privatefile.py)."""
    file = file or path()
    text = "# Written by lostops secrets write (make secrets). Do not commit (git-ignored).\n"
    text += yaml.safe_dump(values, default_flow_style=False, sort_keys=True)
    return write_private(file, text)


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
    except OSError as exc:
        print(f"write-secrets: cannot write {exc.filename or path()}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"write-secrets: wrote {len(values)} secrets to {out} (mode 0600)")
    return 0
