"""Salt's own distributed mode in the lab: a salt-master on the inventory's `salt.master` host, a minion on every host.

Opt-in, never part of `make test`: `make bench-scale LOSTOPS_SCALE_MASTER=1`
and `make lab-salt-master` use it. The lab must have been booted with
``LOSTOPS_LAB_SALT=1`` (the Salt tree below is bound read-only into every host at
/opt/lostops-salt) from an inventory whose ``salt.master`` is set (tests/lab/scale.py
writes one), and converged once with salt-ssh: that run opened the ZeroMQ ports on
the master host's firewall, from the fleet only (lostops.policy).

Salt on the hosts: Debian ships no salt package, so :func:`ensure_tree` builds a
directory of site-packages for the hosts' Python (trixie: 3.13) once and caches it
under the lab cache, keyed by the pins: salt and the lostops pillar's packages
(pydantic, PyYAML) with their dependency closure as installed in this venv, at the
versions and sha256 hashes of Pipfile.lock (the same Salt, 3008.4, that salt-ssh
runs). Wheels for cp313/manylinux from PyPI (`--require-hashes`); Salt itself is an
sdist, checked against its Pipfile.lock hash and built into a wheel here.

:func:`setup`:
1. copies the repository's ``lostops/``, ``salt/`` and ``pillar/`` (with the selected
   inventory) and the lab's secrets file to the master host (/srv/salt/lostops, root only):
   the same top file, formulas and pillar; the ``#!py`` pillar imports lostops there
   and gives every minion only its role's secrets (lostops/pillar.py), as salt-ssh did;
2. starts salt-master (``auto_accept`` and ``open_mode`` off) bound to its private
   address and the inventory's ``salt-publish`` / ``salt-return`` ports;
3. reads the master's public key fingerprint over SSH (the trusted channel) and gives
   every minion ``master_finger``, so a minion talks only to that master;
4. starts the minions; for each one compares the fingerprint of the pending key on
   the master with the minion's own ``salt-call --local key.finger`` (over SSH) and
   accepts the key (``salt-key -a <id>``) only when they match, then checks the
   accepted key's fingerprint again. The master's side is computed like
   ``key.finger`` (lostops-pem-finger below), not read from ``salt-key -f <id>``:
   in Salt 3008.4 that prints another hash of the same key (saltstack/salt#69970);
   its value is recorded next to the other for the report.

:func:`measure` adds the proof: a salt-ssh re-apply, then two highstates through
the master, the second compared state by state with that re-apply (:func:`compare`),
every minion's own pillar (:func:`pillar_isolation`) and the ZeroMQ ports from the
admin address (:func:`zeromq_from_outside`).

:func:`highstate` runs ``salt '*' state.apply`` on the master and returns the
per-minion results in salt-ssh's shape (tests/e2e/saltrun.SaltRun), timed on the
master (no SSH set-up in the figure) and from the outer machine.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tests.lab import settings

ENV_FLAG = "LOSTOPS_LAB_SALT"
TREE_IN_HOST = "/opt/lostops-salt"
# The tree of the master: its own directory, never a parent of the data the formulas keep under
# /srv/lostops (a copy there replaced /srv/lostops/monitoring and /srv/lostops/traefik: the
# running Alertmanager lost its working directory; tests/unit/test_lab_saltmaster.py).
SRV = "/srv/salt/lostops"
HOST_PYTHON = "3.13"  # Debian trixie's python3 (the lab's base)
# The distributions whose dependency closure goes to the hosts: Salt, and what the
# lostops pillar imports on the master.
ROOTS = ("salt", "pydantic", "PyYAML")
# In salt's closure but without a wheel for the hosts' Python (C extension, sdist
# only): salt.utils.dateutils imports it optionally (date strings in a few
# execution modules); none of this repository's states use it.
WITHOUT = {"timelib": "C extension without a cp313 wheel; optional in salt.utils.dateutils"}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64",
             "manylinux1_x86_64", "any")  # fmt: skip
TREE_RECIPE = "1"  # bump when the build steps change in a way the pins do not show
MASTER_UNIT = "lostops-salt-master"
MINION_UNIT = "lostops-salt-minion"


def enabled() -> bool:
    return os.environ.get(ENV_FLAG) == "1"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots=ROOTS) -> dict[str, str]:
    """{distribution: version} of `roots` and their dependencies, for Linux/CPython 3.13, as installed here."""
    from packaging.requirements import Requirement

    major, minor = HOST_PYTHON.split(".")
    env = {
        "python_version": HOST_PYTHON,
        "python_full_version": f"{major}.{minor}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": "x86_64",
        "extra": "",
    }
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if _norm(name) in seen:
            continue
        dist = md.distribution(name)
        seen[_norm(name)] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return dict(sorted(seen.items()))


def pins(lock: Path = settings.REPO / "Pipfile.lock") -> dict[str, tuple[str, list[str]]]:
    """{name: (version, [sha256 hashes])} of the closure, from Pipfile.lock; a version the lock does not hold is an error."""
    data = json.loads(lock.read_text())
    locked = {_norm(k): v for sec in ("default", "develop") for k, v in data.get(sec, {}).items()}
    out = {}
    for name, version in closure().items():
        if name in WITHOUT:
            continue
        entry = locked.get(name)
        if entry is None or entry.get("version") != f"=={version}":
            raise RuntimeError(
                f"{name} {version} (installed) is not what Pipfile.lock pins ({entry and entry.get('version')})"
            )
        out[name] = (version, list(entry["hashes"]))
    return out


def tree_key(p: dict) -> str:
    h = hashlib.sha256(json.dumps({"recipe": TREE_RECIPE, "python": HOST_PYTHON, "pins": p}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _pip(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        tail = "\n".join(ln for ln in proc.stderr.splitlines() if "WARNING: Location" not in ln)[-2000:]
        raise RuntimeError(f"pip {args[0]} failed:\n{tail}")


@functools.cache
def ensure_tree(cache: Path = settings.CACHE) -> Path:
    """The hosts' Salt tree (site-packages for Python 3.13), built once per set of pins."""
    p = pins()
    tree = cache / "salt" / f"tree-{tree_key(p)}"
    if (tree / ".complete").exists():
        return tree
    work = cache / "salt" / f"build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "wheels").mkdir(parents=True)
    target = [f"--python-version={HOST_PYTHON}", "--implementation=cp", f"--abi=cp{HOST_PYTHON.replace('.', '')}",
              "--abi=abi3", "--abi=none", *(f"--platform={x}" for x in PLATFORMS)]  # fmt: skip
    reqs = work / "requirements.txt"
    reqs.write_text(
        "".join(f"{n}=={v} " + " ".join(f"--hash={h}" for h in hs) + "\n" for n, (v, hs) in p.items() if n != "salt")
    )
    t0 = time.monotonic()
    _pip("download", "--quiet", "--no-deps", "--require-hashes", "--only-binary=:all:", *target,
         "-d", str(work / "wheels"), "-r", str(reqs))  # fmt: skip
    # Salt: an sdist only; its hash is checked by --require-hashes, then it becomes a wheel here.
    version, hashes = p["salt"]
    sreq = work / "salt.txt"
    sreq.write_text(f"salt=={version} " + " ".join(f"--hash={h}" for h in hashes) + "\n")
    _pip("download", "--quiet", "--no-deps", "--require-hashes", "--no-binary=salt", "-d", str(work / "sdist"), "-r", str(sreq))  # fmt: skip
    (sdist,) = (work / "sdist").iterdir()
    _pip("wheel", "--quiet", "--no-deps", "-w", str(work / "wheels"), str(sdist))
    wheels = sorted(str(w) for w in (work / "wheels").glob("*.whl"))
    _pip("install", "--quiet", "--no-index", "--no-deps", "--only-binary=:all:", *target,
         "--target", str(work / "tree"), *wheels)  # fmt: skip
    (work / "tree" / ".pins.json").write_text(
        json.dumps({"python": HOST_PYTHON, "pins": p, "without": WITHOUT}, indent=1)
    )
    (work / "tree" / ".complete").write_text(f"built in {time.monotonic() - t0:.0f} s\n")
    tree.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tree, ignore_errors=True)
    os.rename(work / "tree", tree)
    shutil.rmtree(work, ignore_errors=True)
    for old in tree.parent.glob("tree-*"):  # one tree at a time: the cache holds the current pins
        if old != tree:
            shutil.rmtree(old, ignore_errors=True)
    return tree


def nspawn_binds() -> list[str]:
    """Extra systemd-nspawn arguments of every lab host when the lab flag is set."""
    if not enabled():
        return []
    return [f"--bind-ro={ensure_tree()}:{TREE_IN_HOST}"]


# ------------------------------------------------------------------ on the hosts --
# Wrapper commands: the hosts' own python3 with the tree (and, on the master, the
# lostops package under /srv/salt/lostops) on its path. `-c` keeps argv[1:] for Salt.
SCRIPTS = {
    "salt": "salt_main",
    "salt-master": "salt_master",
    "salt-minion": "salt_minion",
    "salt-key": "salt_key",
    "salt-call": "salt_call",
    "salt-run": "salt_run",
}


# Salt 3008.4's `salt-key -f` hashes the whole PEM text of a key (its key cache hands
# salt.utils.crypt.pem_finger a string), while `key.finger` on the minion and the
# minion's `master_finger` check hash the file without its BEGIN/END lines: the two
# never match (saltstack/salt#69970, fixed by #70011 after 3008.4). Both sides are
# therefore fingerprinted with pem_finger(path) of the key file, as the minion does.
PEM_FINGER = (
    "#!/bin/sh\n# lostops lab: a key file's fingerprint as salt-minion computes it (tests/lab/saltmaster.py)\n"
    f"PYTHONPATH={TREE_IN_HOST} exec /usr/bin/python3 -c "
    "'import sys; from salt.utils.crypt import pem_finger; "
    'p = sys.argv[1]; open(p).close(); print(pem_finger(p, sum_type="sha256"))\' "$1"\n'
)
PKI = "/etc/salt/pki/master"


def _script(name: str, entry: str) -> str:
    return (
        "#!/bin/sh\n# lostops lab: Salt from the tree bound at " + TREE_IN_HOST + " (tests/lab/saltmaster.py)\n"
        f"PYTHONPATH={TREE_IN_HOST}:{SRV} exec /usr/bin/python3 -c "
        f'\'import sys; sys.argv[0] = "{name}"; from salt.scripts import {entry}; {entry}()\' "$@"\n'
    )


def _unit(name: str, what: str, argv: str, env: dict[str, str]) -> str:
    envs = "".join(f"Environment={k}={v}\n" for k, v in env.items())
    return (
        f"[Unit]\nDescription={what} (lostops lab, tests/lab/saltmaster.py)\nAfter=network-online.target\n\n"
        f"[Service]\nType=simple\n{envs}ExecStart={argv}\nRestart=on-failure\nKillMode=process\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def master_config(inv, master: str) -> str:
    svc = inv.services
    return (
        "# lostops lab salt-master (tests/lab/saltmaster.py): the repository's tree, keys by fingerprint only\n"
        f"interface: {inv.hosts[master].private_ip}\n"
        f"publish_port: {svc['salt-publish'].port_range[0]}\n"
        f"ret_port: {svc['salt-return'].port_range[0]}\n"
        "auto_accept: False\nopen_mode: False\n"
        f"file_roots:\n  base:\n    - {SRV}/salt\n"
        f"pillar_roots:\n  base:\n    - {SRV}/pillar\n"
        "pillar_safe_render_error: False\n"
        "lazy_loader_strict_matching: True\n"
        "state_output: changes\n"
        "hash_type: sha256\n"
        "worker_threads: 3\n"
    )


def minion_config(inv, host: str, master: str, master_finger: str) -> str:
    svc = inv.services
    return (
        "# lostops lab salt-minion (tests/lab/saltmaster.py)\n"
        f"id: {host}\n"
        f"master: {inv.hosts[master].private_ip}\n"
        f"publish_port: {svc['salt-publish'].port_range[0]}\n"
        f"master_port: {svc['salt-return'].port_range[0]}\n"
        f"master_finger: '{master_finger}'\n"
        "hash_type: sha256\n"
        "# retry the authentication every 2 s (default 10) while the key waits for acceptance\n"
        "acceptance_wait_time: 2\n"
        "lazy_loader_strict_matching: True\n"
        "state_output: changes\n"
    )


def repo_tarball(inv_name: str, secrets_file: Path) -> bytes:
    """lostops/, salt/, pillar/ (without other inventories' secrets) and the secrets file, as a tar for SRV."""
    repo = settings.REPO
    buf = io.BytesIO()

    def skip(info: tarfile.TarInfo):
        parts = Path(info.name).parts
        if "__pycache__" in parts or info.name.endswith((".pyc", "secrets.yaml")):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for top in ("lostops", "salt", "pillar"):
            tar.add(repo / top, arcname=top, filter=skip)
        data = secrets_file.read_bytes()
        info = tarfile.TarInfo("pillar/secrets.yaml")
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class SaltMasterError(RuntimeError):
    pass


def _ok(proc, what: str) -> str:
    if proc.returncode != 0:
        raise SaltMasterError(f"{what}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def _put(lab, host: str, path: str, text: str, mode: str = "0644") -> None:
    cmd = f"install -d -m 0755 {shlex.quote(os.path.dirname(path))} && cat > {shlex.quote(path)}.new && chmod {mode} {shlex.quote(path)}.new && mv {shlex.quote(path)}.new {shlex.quote(path)}"
    _ok(lab.run(host, cmd, input=text, timeout=120), f"{host}: write {path}")


def _install_commands(lab, host: str) -> None:
    script = "".join(
        f"cat > /usr/local/bin/{name} <<'EOF'\n{_script(name, entry)}EOF\nchmod 0755 /usr/local/bin/{name}\n"
        for name, entry in SCRIPTS.items()
    )
    script += f"cat > /usr/local/bin/lostops-pem-finger <<'EOF'\n{PEM_FINGER}EOF\nchmod 0755 /usr/local/bin/lostops-pem-finger\n"
    _ok(lab.run(host, f"test -f {TREE_IN_HOST}/.complete && {script}", timeout=120), f"{host}: Salt commands")


FINGER = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){31}")


def finger(text: str, what: str) -> str:
    """The sha256 fingerprint in `text` (lostops-pem-finger's or `salt-call --local key.finger --out=json`'s output)."""
    data = text.strip()
    if data.startswith("{"):
        data = json.loads(data).get("local")
    if not isinstance(data, str) or not FINGER.fullmatch(data):
        raise SaltMasterError(f"{what}: not a sha256 key fingerprint: {text.strip()[:300]}")
    return data


def setup(lab, inv, secrets_file: Path, timeout: float = 180) -> dict:
    """Master on inv.salt.master, minions on every host, keys accepted by fingerprint. Timings and fingerprints."""
    master = inv.salt.master
    if master is None:
        raise SaltMasterError(f"inventory {inv.name}: salt.master is not set")
    hosts = list(inv.hosts)
    out: dict = {"master": master, "accepted": {}}
    t0 = time.monotonic()
    for h in hosts:
        _install_commands(lab, h)
    tar = repo_tarball(inv.name, secrets_file)
    cmd = (
        f"rm -rf {SRV}.new && install -d -m 0700 {SRV}.new && base64 -d | tar -xz -C {SRV}.new "
        f"&& rm -rf {SRV} && mv {SRV}.new {SRV} && chmod 0600 {SRV}/pillar/secrets.yaml"
    )
    import base64

    _ok(lab.run(master, cmd, input=base64.b64encode(tar).decode(), timeout=300), f"{master}: copy the tree")
    env = {"LOSTOPS_INVENTORY": inv.name, "LOSTOPS_SECRETS_FILE": f"{SRV}/pillar/secrets.yaml"}
    _put(lab, master, "/etc/salt/master", master_config(inv, master))
    _put(lab, master, f"/etc/systemd/system/{MASTER_UNIT}.service",
         _unit(MASTER_UNIT, "salt-master", "/usr/local/bin/salt-master", env))  # fmt: skip
    _ok(
        lab.run(master, f"systemctl daemon-reload && systemctl restart {MASTER_UNIT}", timeout=120), "start salt-master"
    )
    # the master's own key, read over SSH once it exists
    mfinger = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = lab.run(master, f"test -s {PKI}/master.pub && lostops-pem-finger {PKI}/master.pub", timeout=120)
        if r.returncode == 0:
            mfinger = finger(r.stdout, "master.pub")
            break
        time.sleep(1)
    if mfinger is None:
        raise SaltMasterError(
            f"{master}: salt-master wrote no key in {timeout} s: {lab.run(master, f'journalctl -u {MASTER_UNIT} -n 30 --no-pager').stdout[-1500:]}"
        )
    out["master_finger"] = mfinger
    for h in hosts:
        _put(lab, h, "/etc/salt/minion", minion_config(inv, h, master, mfinger))
        _put(lab, h, f"/etc/systemd/system/{MINION_UNIT}.service",
             _unit(MINION_UNIT, "salt-minion", "/usr/local/bin/salt-minion", {}))  # fmt: skip
        _ok(
            lab.run(h, f"systemctl daemon-reload && systemctl restart {MINION_UNIT}", timeout=120),
            f"{h}: start salt-minion",
        )
    # keys: accepted only when the master's pending key is the minion's own
    pending = set(hosts)
    while pending and time.monotonic() < deadline:
        listed = json.loads(_ok(lab.run(master, "salt-key -L --out=json", timeout=120), "salt-key -L"))
        for h in sorted(pending & set(listed.get("minions", []))):  # accepted before (a second set-up)
            own = finger(_ok(lab.run(h, "salt-call --local key.finger --out=json", timeout=120), h), f"{h} key.finger")
            now = finger(_ok(lab.run(master, f"lostops-pem-finger {PKI}/minions/{h}", timeout=120), h), f"accepted {h}")
            if now != own:
                raise SaltMasterError(f"{h}: the accepted key {now} is not the minion's own {own}")
            out["accepted"][h] = own
            pending.discard(h)
        for h in sorted(pending & set(listed.get("minions_pre", []))):
            own = finger(_ok(lab.run(h, "salt-call --local key.finger --out=json", timeout=120), h), f"{h} key.finger")
            seen = finger(
                _ok(lab.run(master, f"lostops-pem-finger {PKI}/minions_pre/{h}", timeout=120), h), f"pending {h}"
            )
            listed_by_salt = _ok(lab.run(master, f"salt-key -f {shlex.quote(h)} --out=json", timeout=120), h)
            if own != seen:
                raise SaltMasterError(
                    f"{h}: the master's pending key {seen} is not the minion's own {own}; not accepted"
                )
            _ok(lab.run(master, f"salt-key -y -a {shlex.quote(h)} --out=json", timeout=120), f"salt-key -a {h}")
            now = finger(_ok(lab.run(master, f"lostops-pem-finger {PKI}/minions/{h}", timeout=120), h), f"accepted {h}")
            if now != own:
                _ok(lab.run(master, f"salt-key -y -d {shlex.quote(h)}", timeout=120), f"salt-key -d {h}")
                raise SaltMasterError(f"{h}: the accepted key {now} is not the one compared ({own}); deleted")
            out.setdefault("salt_key_f", {})[h] = json.loads(listed_by_salt).get("minions_pre", {}).get(h)
            out["accepted"][h] = own
            pending.discard(h)
        if pending:
            time.sleep(1)
    if pending:
        raise SaltMasterError(f"no key from {', '.join(sorted(pending))} in {timeout} s")
    # every minion answers through the master (ZeroMQ through the firewall and NSG rules); a minion
    # re-authenticates acceptance_wait_time after its key was accepted
    pong: dict = {}
    while time.monotonic() < deadline:
        r = lab.run(master, "salt --out=json --static -t 15 '*' test.ping", timeout=120)
        try:
            pong = json.loads(r.stdout or "{}")
        except json.JSONDecodeError:
            pong = {}
        if sorted(k for k, v in pong.items() if v is True) == sorted(hosts):
            break
        time.sleep(2)
    else:
        raise SaltMasterError(f"test.ping through the master: {pong}")
    out["setup_s"] = round(time.monotonic() - t0, 1)
    return out


def highstate(lab, master: str, timeout: float = 1800):
    """`salt '*' state.apply` on the master: a SaltRun (tests/e2e/saltrun.py) timed on the master."""
    from tests.e2e.saltrun import SaltRun

    cmd = (
        "t0=$(date +%s.%N); salt --out=json --static -t 900 '*' state.apply > /run/lostops-highstate.json; rc=$?; "
        't1=$(date +%s.%N); echo "$rc $t0 $t1" >&2; cat /run/lostops-highstate.json; rm -f /run/lostops-highstate.json'
    )
    t0 = time.monotonic()
    r = lab.run(master, cmd, timeout=timeout)
    wall = time.monotonic() - t0
    last = (r.stderr.strip().splitlines() or ["-1 0 0"])[-1].split()
    try:
        rc, on_master = int(last[0]), float(last[2]) - float(last[1])
    except (ValueError, IndexError):
        rc, on_master = -1, wall
    run = SaltRun(["salt", "'*'", "state.apply", f"(on {master})"], rc, r.stdout, r.stderr, on_master)
    try:
        run.returns.update(json.loads(r.stdout))
    except json.JSONDecodeError:
        pass
    run.wall = wall  # type: ignore[attr-defined]
    return run


def compare(ssh_run, master_run, hosts) -> dict:
    """The per-state comparison: state IDs and results (and whether anything changed) of every host."""
    per_host, same = {}, True
    for h in hosts:
        a, b = ssh_run.states(h) or {}, master_run.states(h) or {}
        ra = {k: v.get("result") for k, v in a.items()}
        rb = {k: v.get("result") for k, v in b.items()}
        only_ssh = sorted(set(ra) - set(rb))
        only_master = sorted(set(rb) - set(ra))
        differ = sorted(k for k in set(ra) & set(rb) if ra[k] != rb[k])
        ok = bool(ra) and not (only_ssh or only_master or differ)
        same = same and ok
        per_host[h] = {
            "states": len(rb),
            "same": ok,
            "only_salt_ssh": only_ssh[:10],
            "only_master": only_master[:10],
            "different_result": differ[:10],
            "changed_master": len(master_run.changed(h)),
            "failed_master": len(master_run.failures(h)) if b else None,
        }
    return {"same": same, "hosts": per_host}


def stop(lab, inv) -> None:
    """Stop the minions and the master (the hosts go away with the lab anyway)."""
    for h in inv.hosts:
        lab.run(h, f"systemctl stop {MINION_UNIT} {MASTER_UNIT} 2>/dev/null; true", timeout=60)


def pillar_isolation(lab, inv, secrets_file: Path) -> dict:
    """Every minion asks the master for its own pillar (`salt-call pillar.items` on the host, over SSH):
    it holds exactly its role's secrets (lostops.secrets.for_role, as under salt-ssh) and no value of
    any other secret appears anywhere in it."""
    from lostops import secrets

    values = secrets.read(secrets_file)
    out, ok = {}, True
    for h, host in inv.hosts.items():
        # unmask=True: Salt 3008 prints every pillar value as ********** unless asked (salt.utils.secret);
        # the masking is output only, the minion holds the values
        r = lab.run(h, "salt-call --out=json pillar.items unmask=True", timeout=300)
        pillar = json.loads(_ok(r, f"{h}: salt-call pillar.items")).get("local", {})
        mine = secrets.for_role(values, host.role)
        text = json.dumps(pillar)
        foreign = sorted(
            k for k, v in values.items() if k not in mine and isinstance(v, str) and len(v) >= 8 and v in text
        )
        good = pillar.get("secrets") == mine and not foreign and pillar.get("lostops", {}).get("minion") == h
        ok = ok and good
        out[h] = {"secrets": sorted(pillar.get("secrets") or {}), "foreign_values": foreign, "ok": good}
    return {"ok": ok, "hosts": out}


def zeromq_from_outside(inv) -> dict:
    """The master's ZeroMQ ports from the outer machine (an admin address, not a fleet host): refused or dropped."""
    import socket

    ip = str(inv.hosts[inv.salt.master].private_ip)
    res = {}
    for name in ("salt-publish", "salt-return"):
        port = inv.services[name].port_range[0]
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((ip, port))
            res[name] = "connected"
        except TimeoutError:
            res[name] = "timeout"
        except OSError as exc:
            res[name] = type(exc).__name__
        finally:
            s.close()
    return res


def measure(lab, inv, secrets_file: Path, reference) -> dict:
    """Set the master up, run two highstates through it and compare the second with a salt-ssh re-apply.

    `reference()` runs that salt-ssh re-apply (a SaltRun): right after the set-up and
    before the highstates, so that both see the hosts in the same state (a container
    that turned unhealthy meanwhile fails both the same way).
    """
    res: dict = {}
    info = setup(lab, inv, secrets_file)
    ref = reference()
    res["salt_ssh_reference_s"] = round(ref.seconds, 1)
    res["master_setup_s"] = info["setup_s"]
    res["keys_accepted_by_fingerprint"] = sorted(info["accepted"])
    res["salt_key_f_differs"] = sorted(h for h, f in info.get("salt_key_f", {}).items() if f != info["accepted"][h])
    first = highstate(lab, inv.salt.master)
    noop = highstate(lab, inv.salt.master)
    hosts = list(inv.hosts)
    cmp_ = compare(ref, noop, hosts)
    res.update(
        master_first_s=round(first.seconds, 1),
        master_noop_s=round(noop.seconds, 1),
        master_noop_wall_s=round(noop.wall, 1),
        master_changes=sum(len(noop.changed(h)) for h in hosts),
        master_failed=sum(len(noop.failures(h)) for h in hosts),
        master_same_as_salt_ssh=cmp_["same"],
        master_states=sum(v["states"] for v in cmp_["hosts"].values()),
        master_compare=cmp_["hosts"],
    )
    if not cmp_["same"]:
        print(noop.report(hosts), file=sys.stderr)
    iso = pillar_isolation(lab, inv, secrets_file)
    res["pillar_isolated"] = iso["ok"]
    res["pillar"] = iso["hosts"]
    res["zeromq_from_admin"] = zeromq_from_outside(inv)
    stop(lab, inv)
    return res
