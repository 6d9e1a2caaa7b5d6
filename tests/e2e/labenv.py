"""The lab as the end-to-end tier sees it: paths, hosts and addresses (from the lab inventory,
through tests/lab/settings.py), the environment salt-ssh runs with, and ssh to the hosts."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from tests.lab import settings

REPO = settings.REPO
LAB_DIR = settings.STATE
VENV = Path(os.environ.get("VENV") or REPO / ".venv")
if not VENV.is_absolute():
    VENV = REPO / VENV
LOSTOPS = VENV / "bin" / "lostops"
# Every salt-ssh of the lab, as the release and the drift check: Salt's salt-ssh that keeps the thin
# bundle on the hosts and removes what holds the pillar after every run (lostops/saltssh.py).
SALT_SSH = [str(LOSTOPS), "salt-ssh"]
SECRETS_FILE = LAB_DIR / "secrets.yaml"
CREDENTIALS = LAB_DIR / "credentials"
SSH_CONFIG = LAB_DIR / "ssh_config"
ACCESS_MATRIX = REPO / "tests" / "access-matrix.yaml"

HOSTS = list(settings.HOSTS)
ADMIN_IP = settings.ADMIN_IP
INTERNET_IP = settings.INTERNET_IP


def host_ip(host: str) -> str:
    return settings.HOSTS[host]["ip"]


def host_addresses() -> list[tuple[str, str, str | None]]:
    """(host, address, jump host or None) of every lab host, in inventory order."""
    return [(h, spec["ip"], spec.get("via")) for h, spec in settings.HOSTS.items()]


def read_env_file(path: Path) -> dict[str, str]:
    """`export K=V` lines of .lab/env (written by labctl up)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        env[key.strip()] = " ".join(shlex.split(value)) if value else ""
    return env


def salt_env(lab_env: dict[str, str], secrets_file: Path = SECRETS_FILE) -> dict:
    env = dict(os.environ)
    # the lab's pre-flight and roster read these; never the skip switch
    env.pop("LOSTOPS_SKIP_SECRETS_CHECK", None)
    env.pop("LOSTOPS_TF_OUTPUTS", None)
    env.pop("LOSTOPS_EXTRA_ADMIN_SOURCES", None)
    env.update(lab_env)
    env["LOSTOPS_SECRETS_FILE"] = str(secrets_file)
    env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


# ------------------------------------------------------------------- ssh --
def write_ssh_config(lab) -> Path:
    """ssh_config for testinfra: key, known_hosts, strict host keys, jump to the database."""
    common = [
        f"  User {settings.SSH_USER}",
        f"  IdentityFile {lab.key}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {lab.known_hosts}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        "  ConnectTimeout 5",
        "  LogLevel ERROR",
        "  ServerAliveInterval 10",
        "  ControlMaster auto",
        f"  ControlPath {LAB_DIR}/cm-%C",
        "  ControlPersist 30",
    ]
    text = "# written by tests/e2e (lab only)\n"
    for h, spec in settings.HOSTS.items():
        text += f"Host {spec['ip']} {h}\n  HostName {spec['ip']}\n"
        if spec.get("via"):
            via_ip = host_ip(spec["via"])
            text += f"  ProxyCommand ssh -F {SSH_CONFIG} -o ControlMaster=no -W %h:%p {via_ip}\n"
        text += "\n".join(common) + "\n\n"
    SSH_CONFIG.write_text(text)
    os.chmod(SSH_CONFIG, 0o600)
    return SSH_CONFIG


def close_ssh_masters() -> None:
    for h in settings.HOSTS:
        subprocess.run(
            ["ssh", "-F", str(SSH_CONFIG), "-O", "exit", h],
            capture_output=True,
            timeout=10,
            check=False,
        )
