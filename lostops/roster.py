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
target and for the jump connection, and they are looked up by the inventory's
HOST NAME (``HostKeyAlias=<host>``), not by the address: the public IP comes
from ``outputs.json`` of the same release job that creates it, so no
committed file could hold a key under it. known_hosts lines read
``backend ssh-ed25519 AAAA...``. salt-ssh appends ``ssh_options`` to both
its ssh and its scp command lines (salt/client/ssh/shell.py ``_cmd_str``).
The private key is ``$LOSTOPS_SSH_KEY`` (default ``~/.ssh/id_ed25519``).

SSH connection reuse: every target gets ``ControlMaster=auto``,
``ControlPath=<dir>/%C`` and ``ControlPersist`` (:data:`CONTROL_PERSIST`), so
the several ssh and scp calls salt-ssh makes per host and run (thin check and
deploy, the host fingerprint and ``test.opts_pkg`` of lostops/saltssh.py, the
state tarball, ``state.pkg``, the wipe) share one
authenticated connection. The jump connection (ProxyCommand) uses an existing
master of the jump host when there is one (``ControlMaster=no`` with the same
``ControlPath``) but never becomes one itself. ``<dir>`` is
``$LOSTOPS_SSH_CONTROL_DIR`` or ``.salt/ssh`` in the repository (a directory
in /tmp per user and checkout when that path is too long for a socket),
created 0700 and owned by the user (a control socket is a logged-in session:
only its owner may reach it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lostops.inventory import REPO_ROOT, Inventory

ENV_KEY = "LOSTOPS_SSH_KEY"
ENV_KNOWN_HOSTS = "LOSTOPS_KNOWN_HOSTS"
ENV_TF_OUTPUTS = "LOSTOPS_TF_OUTPUTS"
ENV_CONTROL_DIR = "LOSTOPS_SSH_CONTROL_DIR"
DEFAULT_KEY = "~/.ssh/id_ed25519"
DEFAULT_KNOWN_HOSTS = REPO_ROOT / "ssh" / "known_hosts"
DEFAULT_TF_OUTPUTS = REPO_ROOT / "outputs.json"
DEFAULT_CONTROL_DIR = REPO_ROOT / ".salt" / "ssh"
# Idle time a master connection stays up after its last session: long enough
# to span the gaps between one salt-ssh run's calls and between the runs of one
# release job, short enough not to outlive them by much.
CONTROL_PERSIST = "60s"
# sun_path is 108 bytes; ssh binds "<ControlPath>.<16 random chars>" first and
# %C expands to 40 hex digits: 108 - 1 (NUL) - 17 - 40 - 1 ("/").
MAX_CONTROL_DIR = 49


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


def control_dir(env: Mapping[str, str] = os.environ) -> str:
    """The directory of the ssh control sockets, created 0700 (one line when unusable)."""
    explicit = env.get(ENV_CONTROL_DIR)
    path = Path(explicit).expanduser() if explicit else DEFAULT_CONTROL_DIR
    if not explicit and len(str(path).encode()) > MAX_CONTROL_DIR:
        # a checkout too deep for a socket path: a private directory in /tmp,
        # one per user and checkout (checked below like any other)
        digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:8]
        path = Path(tempfile.gettempdir()) / f"lostops-ssh-{os.getuid()}-{digest}"
    full = _abs(str(path), ENV_CONTROL_DIR)
    if len(full.encode()) > MAX_CONTROL_DIR:
        raise RosterError(
            f"{ENV_CONTROL_DIR}={full}: longer than {MAX_CONTROL_DIR} bytes, ssh could not bind its control "
            f"socket there; set {ENV_CONTROL_DIR} to a shorter directory"
        )
    if "%" in full:
        raise RosterError(f"{ENV_CONTROL_DIR}={full}: ssh would expand the '%' in it")
    try:
        os.makedirs(full, mode=0o700, exist_ok=True)
        st = os.lstat(full)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(full, 0o700)
    except OSError as exc:
        raise RosterError(f"{ENV_CONTROL_DIR}={full}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise RosterError(f"{ENV_CONTROL_DIR}={full}: must be a directory owned by this user")
    return full


def _ssh_port(inv: Inventory) -> int:
    svc = inv.services.get("ssh")
    return svc.port_range[0] if svc else 22


def build_roster(inv: Inventory, outputs: Mapping | None = None, env: Mapping[str, str] = os.environ) -> dict:
    """The flat-roster dict: {minion id: {host, user, port, priv, sudo, ssh_options}}."""
    key = _abs(env.get(ENV_KEY) or DEFAULT_KEY, ENV_KEY)
    known_hosts = _abs(env.get(ENV_KNOWN_HOSTS) or str(DEFAULT_KNOWN_HOSTS), ENV_KNOWN_HOSTS)
    user = inv.ssh.user
    port = _ssh_port(inv)
    control_path = f"{control_dir(env)}/%C"
    common = [
        f"UserKnownHostsFile={known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
        "IdentitiesOnly=yes",
        "BatchMode=yes",
        "ControlMaster=auto",
        f"ControlPath={control_path}",
        f"ControlPersist={CONTROL_PERSIST}",
    ]
    roster: dict[str, dict] = {}
    for name, host in inv.hosts.items():
        options = [*common, f"HostKeyAlias={name}"]
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
                    "ControlMaster=no",
                    "-o",
                    # ssh expands %-tokens in a ProxyCommand first (and knows
                    # no %C there): %%C reaches the jump ssh as %C.
                    f"ControlPath={control_path.replace('%', '%%')}",
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
                    "-o",
                    f"HostKeyAlias={host.ssh_via}",
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
