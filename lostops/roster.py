"""The salt-ssh roster, computed from the inventory.

``etc/salt/roster`` is a thin ``#!py`` file that calls :func:`build_roster`
each time salt-ssh runs, so the roster can never drift from the inventory.

Address of a host (first that applies):

1. ``ssh_address`` in the inventory;
2. the Terraform output ``<host>_public_ip`` from the cdktf outputs file
   (``outputs.json`` at the repository root, or ``$LOSTOPS_TF_OUTPUTS``;
   format ``{"<stack>": {"backend_public_ip": "x", ...}}``);
3. the host's first DNS name.

A host with ``ssh_via`` (the database) is reached through that host with an
explicit ``ProxyCommand`` (``ProxyJump`` would not pass our ``-o`` options to
the jump connection); its target address is its private IP.

Host keys are always checked: ``UserKnownHostsFile`` = ``ssh/known_hosts``
(or ``$LOSTOPS_KNOWN_HOSTS``) and ``StrictHostKeyChecking=yes``, for the
target and for the jump connection. salt-ssh appends ``ssh_options`` to both
its ssh and its scp command lines (salt/client/ssh/shell.py ``_cmd_str``).
The private key is ``$LOSTOPS_SSH_KEY`` (default ``~/.ssh/id_ed25519``).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from lostops.inventory import REPO_ROOT, Inventory

ENV_KEY = "LOSTOPS_SSH_KEY"
ENV_KNOWN_HOSTS = "LOSTOPS_KNOWN_HOSTS"
ENV_TF_OUTPUTS = "LOSTOPS_TF_OUTPUTS"
DEFAULT_KEY = "~/.ssh/id_ed25519"
DEFAULT_KNOWN_HOSTS = REPO_ROOT / "ssh" / "known_hosts"
DEFAULT_TF_OUTPUTS = REPO_ROOT / "outputs.json"


class RosterError(ValueError):
    """A one-line problem building the roster."""


def _abs(path: str, what: str) -> str:
    full = str(Path(os.path.expanduser(path)).resolve())
    # salt-ssh writes `-o IdentityFile=<path>` unquoted and splits its command
    # line with shlex (salt/client/ssh/shell.py): a blank or quote would split it.
    if any(c.isspace() or c in "\"'\\" for c in full):
        raise RosterError(f"{what}={full!r}: salt-ssh cannot use a path with blanks or quotes")
    return full


def load_outputs(env: Mapping[str, str] = os.environ) -> dict | None:
    """The cdktf outputs file as a dict, or None when there is none."""
    explicit = env.get(ENV_TF_OUTPUTS)
    path = Path(explicit) if explicit else DEFAULT_TF_OUTPUTS
    if not path.exists():
        if explicit:
            raise RosterError(f"{ENV_TF_OUTPUTS}={explicit}: file not found")
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise RosterError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RosterError(f"{path}: must be a JSON object of stacks")
    return data


def _output_ip(outputs: Mapping | None, host: str) -> str | None:
    if not outputs:
        return None
    key = f"{host}_public_ip"
    for stack in outputs.values():
        if isinstance(stack, Mapping) and stack.get(key):
            value = stack[key]
            # `cdktf output --outputs-file` writes plain values; tolerate {"value": x}.
            if isinstance(value, Mapping):
                value = value.get("value")
            if value:
                return str(value)
    return None


def address(inv: Inventory, name: str, outputs: Mapping | None = None) -> str:
    """Where salt-ssh (or the jump connection) connects to reach `name` directly."""
    host = inv.hosts[name]
    if host.ssh_address:
        return host.ssh_address
    ip = _output_ip(outputs, name)
    if ip:
        return ip
    if host.dns:
        return host.dns[0].rstrip(".")
    raise RosterError(
        f"hosts.{name}: no ssh_address, no Terraform output {name}_public_ip and no DNS name; cannot address it"
    )


def _ssh_port(inv: Inventory) -> int:
    svc = inv.services.get("ssh")
    return svc.port_range[0] if svc else 22


def build_roster(inv: Inventory, outputs: Mapping | None = None, env: Mapping[str, str] = os.environ) -> dict:
    """The flat-roster dict: {minion id: {host, user, port, priv, sudo, ssh_options}}."""
    key = _abs(env.get(ENV_KEY) or DEFAULT_KEY, ENV_KEY)
    known_hosts = _abs(env.get(ENV_KNOWN_HOSTS) or str(DEFAULT_KNOWN_HOSTS), ENV_KNOWN_HOSTS)
    user = inv.ssh.user
    port = _ssh_port(inv)
    common = [
        f"UserKnownHostsFile={known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
        "IdentitiesOnly=yes",
        "BatchMode=yes",
    ]
    roster: dict[str, dict] = {}
    for name, host in inv.hosts.items():
        options = list(common)
        if host.ssh_via:
            jump = address(inv, host.ssh_via, outputs)
            proxy = " ".join(
                shlex.quote(part)
                for part in [
                    "ssh",
                    "-i",
                    key,
                    "-p",
                    str(port),
                    "-o",
                    f"UserKnownHostsFile={known_hosts}",
                    "-o",
                    "GlobalKnownHostsFile=/dev/null",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "BatchMode=yes",
                    "-W",
                    "%h:%p",
                    f"{user}@{jump}",
                ]
            )
            # salt-ssh splits its command line with shlex (no shell): the
            # double quotes keep the ProxyCommand one argument.
            options.append(f'ProxyCommand="{proxy}"')
            target = str(host.private_ip)
        else:
            target = address(inv, name, outputs)
        roster[name] = {
            "host": target,
            "port": port,
            "user": user,
            "priv": key,
            "sudo": True,
            "ssh_options": options,
        }
    return roster
