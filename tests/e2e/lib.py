"""Helpers of the end-to-end tier (tests/e2e): salt-ssh runs, secrets, probes.

Everything here drives the REAL tools: `salt-ssh` from the repository root
with the repository's Saltfile and roster, ssh to the lab hosts
(tests/lab/labctl.py), TCP connections over the lab bridge.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import secrets as pysecrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = REPO / ".lab"
VENV = Path(os.environ.get("VENV") or REPO / ".venv")
if not VENV.is_absolute():
    VENV = REPO / VENV
SALT_SSH = VENV / "bin" / "salt-ssh"
LOSTOPS = VENV / "bin" / "lostops"
SECRETS_FILE = LAB_DIR / "secrets.yaml"
CREDENTIALS = LAB_DIR / "credentials"
SSH_CONFIG = LAB_DIR / "ssh_config"
ACCESS_MATRIX = REPO / "tests" / "access-matrix.yaml"

sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO))
import labctl  # noqa: E402

HOSTS = list(labctl.HOSTS)
ADMIN_IP = labctl.ADMIN_IP
INTERNET_IP = labctl.INTERNET_IP


def host_ip(host: str) -> str:
    return labctl.HOSTS[host]["ip"]


# ------------------------------------------------------------------ summary --
class Summary:
    """Lines for the terminal summary (tests/e2e/conftest.py prints them).

    Only what a test really measured is recorded; a check that failed records
    a FAILED line. Keys keep the order of the issue's list.
    """

    ORDER = [
        "NOT AS PRODUCTION",
        "lab",
        "converge",
        "second apply",
        "host facts",
        "listening ports",
        "matrix",
        "matrix udp",
        "app roll-out",
        "app roll-back",
        "app roll-out, other traefik labels",
        "app roll-out through traefik",
        "mysql re-create",
        "persistence after reboot",
        "missing secret",
        "unreachable host",
        "backup and restore",
        "alert delivery",
        "rehearsal 1 before",
        "rehearsal 2 open",
        "rehearsal 3 roll-out",
        "rehearsal 4 close",
        "rehearsal 5 expiry",
        "rehearsal 6 guard",
        "timings",
        "memory",
        "teardown",
    ]

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    def ok(self, key: str, text: str) -> None:
        self.lines[key] = f"{key}: {text}"

    def failed(self, key: str, text: str) -> None:
        self.lines[key] = f"{key}: FAILED - {text}"

    def time(self, key: str, seconds: float) -> None:
        self.timings[key] = round(seconds, 1)

    def conclude(self, key: str, problems: list[str], ok: str | Callable[[], str]) -> None:
        """Record the check's line and fail the test on any problem.

        With problems: a FAILED line of each problem's first line, then an
        assertion listing them in full. Without: the `ok` text (a callable is
        only called then, so it may read values that exist only on success)."""
        if problems:
            self.failed(key, " | ".join(p.splitlines()[0] for p in problems))
        else:
            self.ok(key, ok() if callable(ok) else ok)
        assert not problems, "\n".join(problems)

    def render(self) -> list[str]:
        out = []
        keys = [k for k in self.ORDER if k in self.lines] + [k for k in self.lines if k not in self.ORDER]
        for k in keys:
            out.append(self.lines[k])
        if self.timings:
            out.append("times: " + ", ".join(f"{k} {v} s" for k, v in self.timings.items()))
        return out


SUMMARY = Summary()


# --------------------------------------------------------------- lab env --
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


# ------------------------------------------------------------------ secrets --
def _mysql_ca() -> tuple[str, str]:
    """A throw-away MySQL CA from the project's own `lostops mysql-ca` (as production makes it)."""
    r = subprocess.run(
        [str(LOSTOPS), "mysql-ca", "--cn", "Lostops lab MySQL CA"], capture_output=True, text=True, check=True, cwd=REPO
    )
    vals = dict(re.findall(r"^export (\w+)='([^']*)'", r.stdout, re.M))
    return vals["LOSTOPS_SECRET_MYSQL_CA_CERT"], vals["LOSTOPS_SECRET_MYSQL_CA_KEY"]


def _apr1(password: str) -> str:
    r = subprocess.run(
        ["openssl", "passwd", "-apr1", "-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout.strip()


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
        "prometheus_basic_auth": "prometheus:" + _apr1(prometheus_password),
    }
    missing = set(spec.SPEC) - set(values)
    if missing:  # the SPEC grew: this tier must learn the new key
        raise AssertionError(f"tests/e2e/lib.py has no lab value for secrets {sorted(missing)}")
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


# ----------------------------------------------------------------- salt-ssh --
def parse_json_docs(text: str) -> list:
    """salt-ssh --out=json prints one JSON document per minion."""
    dec = json.JSONDecoder()
    docs, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] not in "{[":
            # a stray non-JSON line (warning): skip it
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        docs.append(obj)
        i = end
    return docs


@dataclass
class SaltRun:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float
    returns: dict = field(default_factory=dict)  # minion -> return

    def states(self, minion: str) -> dict | None:
        """{state key: result dict} or None when the minion returned no state data."""
        ret = self.returns.get(minion)
        if isinstance(ret, dict) and ret and all(isinstance(v, dict) and "result" in v for v in ret.values()):
            return ret
        return None

    def error(self, minion: str) -> str | None:
        """A one-paragraph description of why `minion` has no (good) state data."""
        ret = self.returns.get(minion)
        if ret is None:
            return "no return at all"
        if self.states(minion) is not None:
            return None
        if isinstance(ret, list):
            return " | ".join(str(x) for x in ret)
        if isinstance(ret, dict):
            parts = []
            for k in ("_error", "stderr", "stdout", "return"):
                if ret.get(k):
                    parts.append(f"{k}: {str(ret[k]).strip()[:600]}")
            if "retcode" in ret:
                parts.append(f"retcode {ret['retcode']}")
            return "; ".join(parts) or json.dumps(ret)[:600]
        return str(ret)[:600]

    def failures(self, minion: str) -> list[str]:
        st = self.states(minion)
        if st is None:
            return [f"(no state results) {self.error(minion)}"]
        out = []
        for key, r in sorted(st.items(), key=lambda kv: kv[1].get("__run_num__", 0)):
            if r.get("result") is not True:
                sid = r.get("__id__") or key
                comment = str(r.get("comment", "")).strip().replace("\n", " | ")
                out.append(f"{sid}: {comment[:700]}")
        return out

    def changed(self, minion: str) -> list[str]:
        st = self.states(minion) or {}
        out = []
        for key, r in sorted(st.items(), key=lambda kv: kv[1].get("__run_num__", 0)):
            if r.get("changes"):
                sid = r.get("__id__") or key
                out.append(f"{sid}: {json.dumps(r['changes'], default=str)[:300]}")
        return out

    def ok(self, minion: str) -> bool:
        return self.states(minion) is not None and not self.failures(minion)

    def state(self, minion: str, state_id: str) -> dict | None:
        for key, r in (self.states(minion) or {}).items():
            if r.get("__id__") == state_id or key.split("_|-")[1:2] == [state_id]:
                return r
        return None

    def report(self, minions=None) -> str:
        lines = [f"$ {' '.join(shlex.quote(a) for a in self.argv)}  (exit {self.rc}, {self.seconds:.1f} s)"]
        for m in minions or sorted(self.returns):
            fails = self.failures(m)
            if fails:
                lines.append(f"  {m}: {len(fails)} failing:")
                lines += [f"    - {f}" for f in fails[:40]]
            else:
                lines.append(f"  {m}: OK")
        if not self.returns:
            lines.append("  no JSON return; stdout tail:\n" + self.stdout[-3000:])
            lines.append("  stderr tail:\n" + self.stderr[-3000:])
        return "\n".join(lines)


# Developer-only switches (never in CI): extra salt-ssh arguments and a JSON
# pillar deep-merged into every run, to get past a formula bug while iterating.
# Any use is printed in the summary as NOT-as-production.
DEV_ARGS = shlex.split(os.environ.get("LOSTOPS_E2E_SALT_ARGS", ""))
DEV_PILLAR = json.loads(os.environ.get("LOSTOPS_E2E_PILLAR") or "null")


def deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def salt_ssh(
    target: str,
    *args: str,
    env: dict,
    pillar: dict | None = None,
    timeout: float = 900,
) -> SaltRun:
    """Run salt-ssh from the repository root (Saltfile + etc/salt), as production."""
    argv = [str(SALT_SSH), target, *args, *DEV_ARGS, "--out=json"]
    if DEV_ARGS or DEV_PILLAR:
        SUMMARY.ok(
            "NOT AS PRODUCTION",
            f"developer switches in effect: LOSTOPS_E2E_SALT_ARGS={DEV_ARGS} LOSTOPS_E2E_PILLAR={DEV_PILLAR}",
        )
    if DEV_PILLAR and "state." in " ".join(args):
        pillar = deep_merge(DEV_PILLAR, pillar or {})
    if pillar is not None:
        argv.append("pillar=" + json.dumps(pillar))
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as exc:
        rc = -9
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = (
            exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        ) + f"\nTIMEOUT after {timeout} s"
    run = SaltRun(argv, rc, out, err, time.monotonic() - t0)
    for doc in parse_json_docs(out):
        if isinstance(doc, dict):
            run.returns.update(doc)
    log_dir = LAB_DIR / "salt-runs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%H%M%S")
    (log_dir / f"{stamp}-{len(list(log_dir.iterdir())):03d}.log").write_text(
        f"{run.argv}\nexit {rc} in {run.seconds:.1f} s\n--- stdout\n{out}\n--- stderr\n{err}\n"
    )
    return run


# ------------------------------------------------------------------- ssh --
def write_ssh_config(lab) -> Path:
    """ssh_config for testinfra: key, known_hosts, strict host keys, jump to the database."""
    common = [
        f"  User {labctl.SSH_USER}",
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
    for h, spec in labctl.HOSTS.items():
        text += f"Host {spec['ip']} {h}\n  HostName {spec['ip']}\n"
        if spec.get("via"):
            via_ip = host_ip(spec["via"])
            text += f"  ProxyCommand ssh -F {SSH_CONFIG} -o ControlMaster=no -W %h:%p {via_ip}\n"
        text += "\n".join(common) + "\n\n"
    SSH_CONFIG.write_text(text)
    os.chmod(SSH_CONFIG, 0o600)
    return SSH_CONFIG


def close_ssh_masters() -> None:
    for h in labctl.HOSTS:
        subprocess.run(
            ["ssh", "-F", str(SSH_CONFIG), "-O", "exit", h],
            capture_output=True,
            timeout=10,
            check=False,
        )


# ---------------------------------------------------------------- probes --
PROBE = r"""
import json, socket, sys, threading, errno
targets = json.loads(sys.argv[1]); source = sys.argv[2] if len(sys.argv) > 2 else None
res = {}
def one(proto, ip, port):
    key = f"{proto}/{ip}:{port}"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        if source:
            s.bind((source, 0))
        s.connect((ip, port))
        if proto == "udp":
            s.send(b"lostops-e2e")
            s.recv(64)
        res[key] = "connected"
    except socket.timeout:
        res[key] = "timeout"
    except ConnectionRefusedError:
        res[key] = "refused"
    except OSError as e:
        res[key] = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
ts = [threading.Thread(target=one, args=t) for t in targets]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps(res))
"""
# A UDP "listener" for the matrix: echoes every datagram (so a missing reply
# means the packet was dropped on the way, not that nobody listened).
UDP_ECHO = (
    "import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
    "s.bind((sys.argv[1],int(sys.argv[2])))\n"
    "while True:\n d,a=s.recvfrom(2048);s.sendto(d,a)"
)


def probe_local(targets: list[tuple[str, str, int]], source_ip: str) -> dict[str, str]:
    """Connect from the outer machine bound to `source_ip`: [(proto, ip, port)] -> result.

    Results: connected (TCP handshake done / UDP echo received), timeout,
    refused, or an errno name. 2 s timeout per probe, all in parallel.
    """
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(targets), source_ip],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0:
        raise AssertionError(f"local probe from {source_ip} failed: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def probe_from_host(lab, host: str, targets: list[tuple[str, str, int]]) -> dict[str, str]:
    """The same probe run ON lab host `host` (python3 over ssh, as lostops)."""
    cmd = "python3 -c " + shlex.quote(PROBE) + " " + shlex.quote(json.dumps(targets))
    r = lab.ssh(host, cmd, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"probe on {host} failed (exit {r.returncode}): {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------- listeners --
@dataclass(frozen=True)
class Listener:
    addr: str
    port: int
    process: str = ""

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.addr).is_loopback
        except ValueError:
            return False

    @property
    def wildcard(self) -> bool:
        return self.addr in ("0.0.0.0", "::", "*")


def parse_ss(text: str) -> list[Listener]:
    """`ss -Hltnp` lines -> listeners (address without brackets/%iface)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        local = f[3]
        addr, _, port = local.rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        if addr.startswith("::ffff:"):
            addr = addr[len("::ffff:") :]
        proc = ""
        m = re.search(r'users:\(\("([^"]+)"', line)
        if m:
            proc = m.group(1)
        try:
            out.append(Listener(addr, int(port), proc))
        except ValueError:
            continue
    return out


def listeners(lab, host: str) -> list[Listener]:
    """Every TCP listener of the host's network namespace (ss) plus Docker-published ports."""
    r = lab.run(host, "ss -Hltnp", timeout=60)
    assert r.returncode == 0, f"{host}: ss failed: {r.stderr}"
    found = parse_ss(r.stdout)
    # Published ports (also when Docker's userland proxy is off and nothing shows in ss).
    d = lab.run(host, "command -v docker >/dev/null && docker ps --format '{{.Names}} {{.Ports}}' || true", timeout=60)
    for line in d.stdout.splitlines():
        name, _, ports = line.partition(" ")
        for m in re.finditer(r"(\[?[0-9a-fA-F.:]*\]?):(\d+)(?:-\d+)?->\d+(?:-\d+)?/tcp", ports):
            addr = m.group(1).strip("[]") or "0.0.0.0"
            found.append(Listener(addr, int(m.group(2)), f"docker:{name}"))
    return found


def exposed(lst: list[Listener]) -> list[Listener]:
    return [x for x in lst if not x.loopback]


def containers(lab, host: str) -> dict[str, dict]:
    """name -> {id, status, health, started, restart, mounts, project, service} of every container."""
    r = lab.run(host, "ids=$(docker ps -aq); [ -z \"$ids\" ] && echo '[]' || docker inspect $ids", timeout=60)
    assert r.returncode == 0, r.stderr
    return {
        c["Name"].lstrip("/"): {
            "id": c["Id"],
            "status": c["State"]["Status"],
            "health": (c["State"].get("Health") or {}).get("Status"),
            "started": c["State"].get("StartedAt"),
            "restart": (c["HostConfig"].get("RestartPolicy") or {}).get("Name"),
            "mounts": {m["Destination"]: m.get("Source") for m in c.get("Mounts", [])},
            "project": (c["Config"].get("Labels") or {}).get("com.docker.compose.project"),
            "service": (c["Config"].get("Labels") or {}).get("com.docker.compose.service"),
        }
        for c in json.loads(r.stdout or "[]")
    }


def wait_containers_back(lab, host: str, names, timeout: float = 90) -> tuple[dict, list[str]]:
    """After a boot: wait until every container in `names` runs and is healthy (or has no check).

    Returns (containers now, problems). Gives up early when the missing ones
    stay exited for 20 s: Docker restarts what its restart policy covers at
    daemon start, nothing comes later.
    """
    t0 = time.monotonic()
    while True:
        now = containers(lab, host)
        bad = {
            n: now.get(n)
            for n in names
            if not (n in now and now[n]["status"] == "running" and now[n]["health"] in (None, "healthy"))
        }
        if not bad:
            return now, []
        elapsed = time.monotonic() - t0
        dead = all(c is None or c["status"] in ("exited", "dead", "created") for c in bad.values())
        if elapsed > timeout or (dead and elapsed > 20):
            return now, [
                f"{n} did not come back: "
                + ("gone" if c is None else f"{c['status']}/{c['health']} (restart policy {c['restart']})")
                for n, c in sorted(bad.items())
            ]
        time.sleep(2)


STANDIN_STOP_TIMEOUT = 5
_STOP_DROPIN = "/run/systemd/system.conf.d/50-lostops-e2e-standin.conf"


def shorten_final_kill(lab, host: str) -> bool:
    """Lab only: let this boot's shutdown SIGKILL leftover processes after 5 s, not 90 s.

    Docker runs with live-restore (salt/docker), so containers are not stopped
    by Docker at shutdown: systemd's final "SIGTERM to remaining processes"
    hits them. The stand-in (busybox httpd as PID 1 of its container) ignores
    SIGTERM, so the shutdown would wait DefaultTimeoutStopSec (90 s) and the
    lab would SIGKILL the whole host after 20 s. Real services stop on SIGTERM.
    The drop-in is in /run: it is gone after the reboot.
    """
    cmd = (
        f"mkdir -p {Path(_STOP_DROPIN).parent} && "
        f"printf '[Manager]\\nDefaultTimeoutStopSec={STANDIN_STOP_TIMEOUT}s\\n' > {_STOP_DROPIN} && "
        "systemctl daemon-reexec && systemctl show -p DefaultTimeoutStopUSec"
    )
    want = f"DefaultTimeoutStopUSec={STANDIN_STOP_TIMEOUT}s"
    r = lab.run(host, cmd, timeout=60)
    if want not in r.stdout:
        r = lab.exec(host, cmd, timeout=60)  # no ssh needed
    if want not in r.stdout:
        raise AssertionError(
            f"{host}: cannot shorten the shutdown timeout (exit {r.returncode}): {r.stdout} {r.stderr}"
        )
    return True


def wait_for(fn, timeout: float, interval: float = 1.0):
    """Call fn() until it returns a truthy value or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    val = fn()
    while not val and time.monotonic() < deadline:
        time.sleep(interval)
        val = fn()
    return val
