"""Render a host's highstate with Salt itself (``state.show_highstate``).

Used by ``lostops render`` (:func:`run`, writes ``render/<host>.json``) and by the unit
tests (``tests/unit/conftest.py``, fixture ``highstate``), so both see exactly
the same data.

Each render runs, in a subprocess of Salt's Python, what ``salt-call --local
--id <host> state.show_highstate`` runs (``salt.client.Caller``; :class:`Renderer`
keeps that process alive for further renders of the same host), then renders
every templated ``file.managed`` with ``file.get_managed`` as the state would on
the host. A throw-away minion configuration sets: file_roots ``salt/``, pillar_roots
``pillar/`` of this repository, the selected inventory
(``LOSTOPS_INVENTORY``), the example secrets file and the secrets check
skipped, so no real secret is needed. The grains of the target OS are
injected (``TARGET_GRAINS``: Ubuntu 24.04 for production inventories,
Debian 13 for the lab), so the OS maps resolve as on the real hosts, not as
on the machine that renders.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from lostops.childproc import CHILD_PREAMBLE, ChildGone, JsonLineChild
from lostops.inventory import REPO_ROOT

SECRETS_EXAMPLE = REPO_ROOT / "pillar" / "secrets.yaml.example"
# Jinja's compiled templates, shared with lostops salt-ssh (etc/salt/master cachedir: .salt/cache).
JINJA_BYTECODE = REPO_ROOT / ".salt" / "cache" / "jinja_bytecode"

UBUNTU_NOBLE = {
    "os": "Ubuntu",
    "os_family": "Debian",
    "osfinger": "Ubuntu-24.04",
    "osrelease": "24.04",
    "osmajorrelease": 24,
    "oscodename": "noble",
    "lsb_distrib_codename": "noble",
    "osarch": "amd64",
}
DEBIAN_TRIXIE = {
    "os": "Debian",
    "os_family": "Debian",
    "osfinger": "Debian-13",
    "osrelease": "13",
    "osmajorrelease": 13,
    "oscodename": "trixie",
    "lsb_distrib_codename": "trixie",
    "osarch": "amd64",
}
# inventory name -> grains of its hosts' OS; anything else renders as Ubuntu 24.04.
TARGET_GRAINS = {"lab": DEBIAN_TRIXIE}
DEFAULT_GRAINS = UBUNTU_NOBLE


class RenderError(RuntimeError):
    """Salt could not render a host; the message is Salt's own error text."""

    def __init__(self, host: str, inventory: str, message: str):
        self.host = host
        self.inventory = inventory
        super().__init__(f"{inventory}/{host}: {message}")


def salt_call() -> str:
    """salt-call of the running Python's environment, else the one on PATH."""
    here = Path(sys.executable).parent / "salt-call"
    if here.exists():
        return str(here)
    venv = REPO_ROOT / ".venv" / "bin" / "salt-call"
    if venv.exists():
        return str(venv)
    found = shutil.which("salt-call")
    if not found:
        raise RenderError("-", "-", "salt-call not found (install the project venv: pipenv install --dev)")
    return found


def _minion_config(workdir: Path, inventory: str, grains: dict | None) -> None:
    conf = {
        "file_client": "local",
        "file_roots": {"base": [str(REPO_ROOT / "salt")]},
        "pillar_roots": {"base": [str(REPO_ROOT / "pillar")]},
        "root_dir": str(workdir),
        "cachedir": str(workdir / "cache"),
        "pki_dir": str(workdir / "pki"),
        "sock_dir": str(workdir / "run"),
        "pidfile": str(workdir / "run" / "salt-minion.pid"),
        "log_file": str(workdir / "minion.log"),
        "log_level_logfile": "warning",
        "pillar_safe_render_error": False,
        "state_events": False,
        # Core grains of the rendering machine are not needed (TARGET_GRAINS):
        # skip the slow reverse-DNS ones.
        "enable_fqdns_grains": False,
        "enable_gpu_grains": False,
        "grains": dict(grains if grains is not None else TARGET_GRAINS.get(inventory, DEFAULT_GRAINS)),
    }
    (workdir / "minion").write_text(yaml.safe_dump(conf, default_flow_style=False))


def render_env(inventory: str, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env["LOSTOPS_INVENTORY"] = inventory
    env["LOSTOPS_SECRETS_FILE"] = str(SECRETS_EXAMPLE)
    env["LOSTOPS_SKIP_SECRETS_CHECK"] = "1"
    return env


def _errors(ret) -> str | None:
    """Salt's error text when show_highstate did not return a highstate."""
    if isinstance(ret, list):
        return "\n".join(str(x) for x in ret)
    if isinstance(ret, str):
        return ret
    if not isinstance(ret, dict):
        return f"unexpected output: {ret!r}"
    return None


# Runs inside Salt's Python, one process per (host, inventory, grains), kept alive
# for many requests (one JSON line each on stdin, one reply line each): starting
# Salt costs more than a render. A "render" compiles the highstate (or the given
# sls), then renders every file.managed that has a `template` with
# file.get_managed (exactly what file.managed does on the host), so compose files
# and configs can be checked without a host. A command-line pillar (salt-ssh ...
# pillar='{...}') is merged into the compiled pillar of the states AND of the
# templates, and taken out again before the next request.
_WORKER = (
    CHILD_PREAMBLE
    + r"""
import copy, fnmatch, json, sys, traceback
import salt.client, salt.config, salt.utils.dictupdate
from lostops.saltssh import install_jinja_bytecode_cache
install_jinja_bytecode_cache(sys.argv[3])  # each template compiled once for all renders (lostops/saltssh.py)
opts = salt.config.minion_config(sys.argv[1] + "/minion")
opts["id"] = sys.argv[2]
opts["file_client"] = "local"
caller = salt.client.Caller(mopts=opts)


def get_managed(sid, name, source, kw, env):
    try:
        sfn, _, comment = caller.cmd(
            "file.get_managed", name, kw["template"], source, None, None, None, None, None, None,
            env, kw.get("context"), kw.get("defaults"), skip_verify=True,
        )
    except Exception as exc:  # the template's own error, as file.managed would report it
        sfn, comment = None, f"{type(exc).__name__}: {exc}"
    if not sfn:
        return {"state": sid, "error": comment}
    with open(sfn, encoding="utf-8") as fh:
        return {"state": sid, "contents": fh.read()}


# {destination: {"state", "contents"|"error"}} of every file.managed with contents or a
# template, and of every file of a templated file.recurse.
def managed_files(hs):
    files = {}
    if not isinstance(hs, dict):
        return files
    for sid, body in hs.items():
        args = body.get("file")
        if not isinstance(args, list):
            continue
        kw = {k: v for item in args if isinstance(item, dict) for k, v in item.items()}
        name, source, env = kw.get("name", sid), kw.get("source"), body.get("__env__", "base")
        if "managed" in args and "contents" in kw:
            files[name] = {"state": sid, "contents": kw["contents"]}
        elif not kw.get("template") or not isinstance(source, str) or not source.startswith("salt://"):
            continue
        elif "managed" in args:
            files[name] = get_managed(sid, name, source, kw, env)
        elif "recurse" in args:
            prefix = source[len("salt://"):].rstrip("/") + "/"
            for path in caller.cmd("cp.list_master", env, prefix):
                rel = path[len(prefix):]
                if not fnmatch.fnmatch(os.path.basename(rel), kw.get("include_pat") or "*"):
                    continue
                dest = name.rstrip("/") + "/" + rel
                files[dest] = get_managed(sid, dest, "salt://" + path, kw, env)
    return files


# The reply line (JSON) of one render, serialized before a command-line pillar is taken out again.
def render(mods, extra):
    kw = {"pillar": extra} if extra else {}
    pillar = caller.opts["pillar"]
    saved = copy.deepcopy(pillar) if extra else None
    try:
        if extra:
            salt.utils.dictupdate.update(pillar, copy.deepcopy(extra))
        hs = caller.cmd("state.show_sls", mods, **kw) if mods else caller.cmd("state.show_highstate", **kw)
        return json.dumps({"ok": {"highstate": hs, "files": managed_files(hs), "pillar": pillar}}, default=str)
    finally:
        if extra:
            pillar.clear()
            pillar.update(saved)


for line in sys.stdin:
    req = json.loads(line)
    try:
        out = render(req.get("mods") or "", req.get("pillar"))
    except Exception:
        out = json.dumps({"exception": traceback.format_exc()[-5000:]})
    reply.write(out + "\n")
    reply.flush()
"""
)


def salt_python() -> str:
    """The Python interpreter Salt runs with (next to salt-call)."""
    sc = Path(salt_call())
    for name in ("python3", "python"):
        cand = sc.parent / name
        if cand.exists():
            return str(cand)
    first = sc.read_text(errors="replace").splitlines()[0]
    return first[2:].strip() if first.startswith("#!") else sys.executable


def _label(inventory: str) -> str:
    return Path(inventory).stem if ("/" in inventory or inventory.endswith((".yaml", ".yml"))) else inventory


class _Worker:
    """One Salt process for one (host, inventory, grains); its stderr (Salt's log) goes to a file."""

    def __init__(self, host: str, inventory: str, grains: dict | None):
        self.host, self.inventory = host, inventory
        self.work = Path(tempfile.mkdtemp(prefix=f"lostops-render-{_label(inventory)}-{host}-"))
        _minion_config(self.work, inventory, grains)
        self.log = (self.work / "worker.log").open("w+b")
        self.child = JsonLineChild(
            [salt_python(), "-c", _WORKER, str(self.work), host, str(JINJA_BYTECODE)],
            cwd=REPO_ROOT,
            env=render_env(inventory),
            stderr=self.log,
        )

    def alive(self) -> bool:
        return self.child.alive()

    def _salt_said(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace").strip()[-5000:]

    def request(self, mods: str, pillar: dict | None, timeout: float) -> dict:
        try:
            reply = self.child.ask({"mods": mods, "pillar": pillar}, timeout)
        except ChildGone as exc:
            raise RenderError(self.host, self.inventory, self._salt_said() or f"Salt worker: {exc}") from None
        if "exception" in reply:
            raise RenderError(self.host, self.inventory, reply["exception"])
        return reply["ok"]

    def close(self) -> None:
        self.child.close()
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)


def _checked(host: str, inventory: str, data: dict) -> dict:
    problem = _errors(data["highstate"])
    if problem is not None:
        raise RenderError(host, inventory, problem)
    bad = {n: f["error"] for n, f in data["files"].items() if "error" in f}
    if bad:
        raise RenderError(
            host, inventory, "\n".join(f"file {n} (state {data['files'][n]['state']}): {e}" for n, e in bad.items())
        )
    return data


class Renderer:
    """Salt processes kept alive between renders, one per (host, inventory, grains).

    ``render()`` returns {"highstate", "files", "pillar"}; Salt starts once per
    key, not once per render (the unit tests render the same hosts with many
    command-line pillars). At most ``keep`` processes stay alive (the least
    recently used one is stopped). Use as a context manager, or call close().
    """

    def __init__(self, keep: int = 12, timeout: float = 180):
        self.keep, self.timeout = keep, timeout
        self._workers: OrderedDict[tuple, _Worker] = OrderedDict()
        self._lock = threading.Lock()

    def _worker(self, host: str, inventory: str, grains: dict | None) -> _Worker:
        key = (host, inventory, json.dumps(grains, sort_keys=True))
        stale = []
        with self._lock:
            worker = self._workers.pop(key, None)
            if worker is None or not worker.alive():
                worker = _Worker(host, inventory, grains)
            self._workers[key] = worker
            while len(self._workers) > self.keep:
                stale.append(self._workers.popitem(last=False)[1])
        for old in stale:
            old.close()
        return worker

    def render(
        self, host: str, inventory: str = "example", mods: str = "", pillar: dict | None = None, grains=None
    ) -> dict:
        """{"highstate": ..., "files": {path: {"state", "contents"}}}; RenderError with Salt's text on failure."""
        data = self._worker(host, inventory, grains).request(mods, pillar, self.timeout)
        return _checked(host, inventory, data)

    def render_many(
        self, pairs: list[tuple[str, str]], pillar: dict | None = None
    ) -> dict[tuple[str, str], dict | RenderError]:
        """render() for (host, inventory) pairs in parallel; a failure is returned, not raised."""

        def one(pair):
            try:
                return pair, self.render(*pair, pillar=pillar)
            except RenderError as exc:
                return pair, exc

        with ThreadPoolExecutor(max_workers=max(2, min(len(pairs), os.cpu_count() or 2))) as pool:
            return dict(pool.map(one, pairs))

    def close(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), OrderedDict()
        for worker in workers:
            worker.close()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def states(highstate: dict, function: str | None = None) -> dict[str, dict]:
    """{state id: {'module': 'file', 'function': 'managed', 'args': {...}, 'sls': ...}}.

    Flattens Salt's ``[{'name': x}, {'mode': y}, 'managed', ...]`` argument lists;
    `function` (e.g. 'file.managed') filters.
    """
    out = {}
    for sid, body in highstate.items():
        for module, value in body.items():
            if module.startswith("__") or not isinstance(value, list):
                continue
            fun = next((v for v in value if isinstance(v, str)), None)
            args: dict = {}
            for item in value:
                if isinstance(item, dict):
                    args.update(item)
            args.setdefault("name", sid)
            full = f"{module}.{fun}"
            if function and full != function:
                continue
            out[sid] = {"module": module, "function": fun, "args": args, "sls": body.get("__sls__")}
    return out


def write(highstate: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(highstate, indent=2, sort_keys=True) + "\n")


def run(selector: str, out: Path, hosts: list[str]) -> int:
    """`lostops render`: each host's highstate to <out>/<host>.json, its managed files under <out>/<host>/.

    Exit 1 with Salt's own error text when a host fails to render, or for an
    unknown host or a bad inventory (its first problem).
    """
    from lostops import inventory

    try:
        inv = inventory.load(selector)
    except inventory.InventoryError as exc:
        print(f"{exc.source}: {exc.lines()[0]}", file=sys.stderr)
        return 1
    hosts = hosts or list(inv.hosts)
    unknown = [h for h in hosts if h not in inv.hosts]
    if unknown:
        print(f"unknown host(s) {', '.join(unknown)} (inventory {inv.name}: {', '.join(inv.hosts)})", file=sys.stderr)
        return 1
    with Renderer() as renderer:
        results = renderer.render_many([(h, selector) for h in hosts])
    failed = 0
    for host in hosts:
        result = results[(host, selector)]
        if isinstance(result, RenderError):
            failed += 1
            print(f"render {host}: FAILED\n{result}", file=sys.stderr)
            continue
        path = out / f"{host}.json"
        write(result["highstate"], path)
        files_dir = out / host
        shutil.rmtree(files_dir, ignore_errors=True)
        for name, item in result["files"].items():
            target = files_dir / name.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(item["contents"])
        print(
            f"render {host}: {len(result['highstate'])} states -> {os.path.relpath(path)}, "
            f"{len(result['files'])} managed files -> {os.path.relpath(files_dir)}/"
        )
    return 1 if failed else 0
