"""Roles as data: what a host of each role runs, needs and may be.

This table is the only place a role is defined. Everything else derives from it:

- the inventory: which ``role`` values are valid, which roles may appear only
  once (``single``), which roles need another (``needs``: the app's DB_HOST),
  and whether a host gets a public IP when the inventory does not say
  (``public_ip``) (:mod:`lostops.inventory`);
- the secrets each host receives and the pre-flight check (:mod:`lostops.secrets`:
  ``SPEC`` holds the format of each key, this table says who needs it);
- the pillar (:mod:`lostops.pillar`): ``lostops:host:formulas`` and
  ``lostops:host:exporters`` for the minion, ``lostops:roles`` for every host;
- the Salt top file (``salt/top.sls`` applies ``lostops:host:formulas`` in
  order) and the exporters formula (``salt/exporters`` runs
  ``lostops:host:exporters``).

A new host needs only its inventory entry; a new role is one entry here (plus
its formulas under ``salt/``). Plain Python rather than a YAML file: the
package imports it without I/O or a schema of its own, it is typed, and Salt
never reads it directly (the target has no ``lostops`` package; it receives
the derived values through the pillar, which is compiled on the master side).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    """What a host of this role runs and needs."""

    # Salt formulas (salt/<name>/), in the order the top file applies them:
    # common and firewall first (the host is locked down before anything
    # listens), docker before every compose project.
    formulas: tuple[str, ...]
    # Exporters of the `exporters` formula (keys of its parameters), one
    # compose project per host. Traefik serves its own metrics.
    exporters: tuple[str, ...]
    # Keys of pillar/secrets.yaml this role needs (checked before any apply).
    secrets: tuple[str, ...]
    # Keys it receives when they are set (not required).
    optional_secrets: tuple[str, ...] = ()
    # At most one host of this role (the formulas support one MySQL primary,
    # one Prometheus); False: may repeat.
    single: bool = False
    # Public IP (and so DNS names, internet flows) when the inventory's
    # `public_ip` is not set.
    public_ip: bool = False
    # Roles that must exist in the inventory when this one does, and why.
    needs: tuple[tuple[str, str], ...] = ()
    what: str = ""


ROLES: dict[str, Role] = {
    "backend": Role(
        what="the Laravel app behind Traefik",
        formulas=("common", "firewall", "docker", "traefik", "exporters", "app"),
        exporters=("node_exporter", "cadvisor"),
        secrets=("mysql_app_password", "mysql_ca_cert", "app_key"),
        optional_secrets=("registry_password", "traefik_dashboard_auth"),
        single=False,
        public_ip=True,
        needs=(("database", "the app's DB_HOST"),),
    ),
    "database": Role(
        what="MySQL in Docker, TLS enforced",
        formulas=("common", "firewall", "docker", "mysql", "exporters"),
        exporters=("node_exporter", "cadvisor", "mysqld_exporter"),
        secrets=(
            "mysql_root_password",
            "mysql_app_password",
            "mysql_exporter_password",
            "mysql_ca_cert",
            "mysql_ca_key",
        ),
        # Off-host backups (inventory azure.backup): required when the
        # inventory has a backup storage account (lostops/secrets.py).
        optional_secrets=("backup_sas_token", "backup_age_recipient"),
        single=True,
        public_ip=False,
    ),
    "monitoring": Role(
        what="Prometheus, Alertmanager and Grafana behind Traefik",
        formulas=("common", "firewall", "docker", "traefik", "exporters", "monitoring"),
        exporters=("node_exporter", "cadvisor"),
        secrets=("grafana_admin_password", "discord_webhook_url", "prometheus_basic_auth"),
        optional_secrets=("traefik_dashboard_auth",),
        single=True,
        public_ip=True,
    ),
}


def names() -> tuple[str, ...]:
    return tuple(ROLES)


def described() -> str:
    """The valid role names for a message: "'backend', 'database' or 'monitoring'"."""
    quoted = [repr(n) for n in ROLES]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def get(name: str) -> Role:
    try:
        return ROLES[name]
    except KeyError:
        raise KeyError(f"unknown role {name!r} (roles: {described()}; lostops/roles.py)") from None


def single_roles() -> tuple[str, ...]:
    return tuple(n for n, r in ROLES.items() if r.single)


def needing_secret(key: str, optional: bool = False) -> tuple[str, ...]:
    """The roles that need (or, with optional=True, may receive) the secret `key`."""
    return tuple(n for n, r in ROLES.items() if key in (r.optional_secrets if optional else r.secrets))
