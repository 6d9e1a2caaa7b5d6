"""salt-ssh that keeps the thin bundle on the hosts and removes what holds the pillar (`lostops salt-ssh`).

Every salt-ssh of this repository (release, drift check, lab, make) runs
through here. It is Salt's own salt-ssh (``salt.cli.ssh``), in this process,
with one difference: ``ssh_wipe`` (etc/salt/master) is turned off, and after
each host's run, in the same per-host process and over the same ssh
(the roster's ControlMaster connection, the database through its jump), the
files of that run that can hold the pillar or anything rendered from it are
removed, whether the run succeeded, failed or was interrupted.

What a run leaves on a host, read in Salt 3008.4:

- ``<thin_dir>/salt_state.tgz`` (salt/client/ssh/wrapper/state.py sends it;
  salt/modules/state.py ``pkg`` never deletes it): ``pillar.json`` (the
  role's whole pillar, secrets included), ``lowstate.json`` (state arguments,
  e.g. a ``contents:`` rendered from the pillar) and the SLS/template files.
- A ``tempfile.mkdtemp()`` directory (``/tmp/tmp*``) that ``state.pkg``
  extracts the tarball into; it deletes it itself, but not when the run dies
  before the end (no try/finally there).
- ``<thin_dir>/running_data``, salt-call's ``root_dir``
  (salt/client/ssh/__init__.py ``Single``): the minion cache (``files/``,
  ``accumulator/`` with file.accumulated data, ``proc/``, the grains
  cache), its log file ``salt-call.log``, ``extmods``.
- ``<thin_dir>/ext_version`` points into ``running_data``; it goes with it,
  so that extension modules, if any ever exist, are sent again.
- Salt's own temporary files (``__salt.tmp.*``, salt/utils/files.py
  ``mkstemp``): templates rendered with the pillar before they are moved in
  place, removed by Salt unless the run dies.

What stays: the thin bundle itself (``salt-thin.tgz`` unpacked: Python
modules of Salt and its dependencies, ``code-checksum``,
``supported-versions``) and ``<thin_dir>/minion`` (the minion options of
``ssh_minion_opts`` plus ``root_dir``/``id``/``sock_dir``: no pillar). The
lab proves it: tests/e2e/test_16_nothing_left_behind.py reads every file
under /tmp and /var/tmp of every host (inside archives too) for every lab
secret after a converge and after a failed and an interrupted run.

A host that salt-ssh could not reach at all (ssh exit 255 before anything
ran) is not contacted again: nothing of this run is on it. A run that loses
its connection midway also ends in 255; what it left goes with the next run
that reaches the host, since every run removes the same files.

The host's grains, kept between runs while the host is unchanged
----------------------------------------------------------------
Salt 3008.4 starts salt-call twice per host for every ``state.*`` run:
``Single._run_wfunc_thin`` sets ``data_cache = False`` and then ``refresh =
True`` unconditionally, so ``test.opts_pkg`` (a whole remote salt-call that
returns the host's minion options and grains, 1.6-2.5 s on the lab hosts)
runs before the pillar and the highstate are rendered on this machine, and
only then ``state.pkg``. Here that first call is answered from a cache
(``<cachedir>/minions/<id>/lostops_opts_pkg.json``, 0600, no pillar in it)
when all of these hold, and made (and cached) otherwise:

- the **local key** is the same: Salt's version, the roster target (host,
  port, user, sudo) and the minion options salt-ssh sends to the host
  (``ssh_minion_opts``, ``thin_dir``, ...);
- the **host fingerprint** is the same: one POSIX sh command over the same
  ssh (:data:`_FINGERPRINT`) prints what the grains are computed from and
  what identifies an installation: ``/etc/machine-id``, the kernel's boot id,
  ``/etc/os-release`` and ``lsb-release``, ``uname -a``, ``/etc/hostname``,
  ``/etc/hosts``, ``/etc/resolv.conf``, memory and CPU count, the size and
  time of the package database (any package installed, removed or upgraded
  changes it), every interface's addresses and MAC, the thin bundle's
  checksum; a host rebuilt, rebooted, renamed, re-addressed or with a package
  changed therefore gets a fresh call (the disaster-recovery test replaces
  the database host: new machine id, new package database);
- the entry is younger than :data:`OPTS_CACHE_TTL_S` (bounds the age of the
  few grains no file above covers);
- the run did not ask for fresh data (``--refresh``/``refresh_cache``,
  ``--regen-thin``).

``LOSTOPS_SALT_SSH_GRAINS_CACHE=0`` in the environment turns the cache off
(Salt's own two calls; ``make bench-e2e`` measures both side by side).

An ssh failure of the fingerprint command is reported as Salt reports a
failed ``test.opts_pkg`` (the host is not tried twice); any other failure of
it falls back to Salt's own call. The remote ``state.pkg`` always computes
its own grains on the host: the cache only feeds what is rendered here.

Less waiting, same commands
---------------------------
Two of Salt's classes are replaced in this process only
(:func:`install_speedups`), each a subclass that changes one thing:

- Salt's ssh Terminal (salt/utils/vt.py) sleeps 0.1 s in every ``close()``
  and 0.1 s more per signal while the ssh it ran is not yet reaped, and reads
  the return 1,024 bytes at a time with 10 ms between reads; with four ssh
  commands per host (fingerprint, state tarball, ``state.pkg``, wipe) that was
  about 1 s of a host's 4 s no-op re-apply. Here a child that has closed both
  its streams is reaped and closed at once (Salt's ``terminate()`` makes the
  same blocking wait after its sleeps), and a read takes what the pty has.
- Salt renders every SLS and template with a new Jinja environment, so the
  formulas' shared imports were compiled again each time; the environment
  here has Jinja's own bytecode cache in ``<cachedir>/jinja_bytecode``
  (0700), keyed by each template's name, the environment's compile options
  and a checksum of its source.

tests/unit/test_salt_ssh_speedups.py runs both with real processes and
templates and checks that Salt still builds them by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

# The files above, in one POSIX sh command run as the ssh user (root):
# sh -c WIPE lostops-wipe <thin_dir> <temp dir>... The state.pkg temporary
# directory is recognized by its lowstate.json and pillar.json.
_WIPE = (
    'set -u; t="$1"; shift; '
    'rm -rf -- "$t/salt_state.tgz" "$t/running_data" "$t/ext_version"; '
    'for top in "$@"; do '
    'for d in "$top"/tmp*/; do '
    '[ -f "$d/lowstate.json" ] && [ -f "$d/pillar.json" ] && rm -rf -- "$d"; '
    "done; "
    'rm -rf -- "$top"/__salt.tmp.*; '
    "done; "
    'test ! -e "$t/salt_state.tgz" && test ! -e "$t/running_data"'
)
# Where Python's tempfile (state.pkg's mkdtemp, Salt's mkstemp) puts them on a host without TMPDIR.
TEMP_DIRS = ("/tmp", "/var/tmp")

# ssh's own exit status when it could not connect (or lost the connection).
SSH_FAILED = 255


def wipe_command(thin_dir: str, temp_dirs=TEMP_DIRS, sudo: bool = False, sudo_user: str | None = None) -> str:
    """The remote command that removes one run's pillar-bearing files under thin_dir and temp_dirs.

    It starts with /bin/sh, as Salt's own shim: salt/client/ssh/shell.py
    ``_split_cmd`` passes what follows /bin/sh to ssh as one word, so the
    quoting here is what the host's shell reads. With the roster's ``sudo``
    (the shim runs salt-call through sudo, so the files are root's) it runs
    through ``sudo -n`` (never a password prompt), as ``sudo_user`` if set.
    """
    import shlex

    return _sudo_prefix(sudo, sudo_user) + "/bin/sh -c " + shlex.join([_WIPE, "lostops-wipe", thin_dir, *temp_dirs])


def _sudo_prefix(sudo: bool, sudo_user: str | None) -> str:
    import shlex

    return ("sudo -n " + (f"-u {shlex.quote(sudo_user)} " if sudo_user else "")) if sudo else ""


# ------------------------------------------------------------------ the grains cache (module docstring)

# Seconds a cached test.opts_pkg answer is used while the host's fingerprint is unchanged.
OPTS_CACHE_TTL_S = 600
OPTS_CACHE_FILE = "lostops_opts_pkg.json"
# sh -c FINGERPRINT lostops-fingerprint <thin_dir>: what the grains are computed from (docstring).
# Only values that stay put on an unchanged host: no counters, no lifetimes (`ip -o addr` prints
# a DHCP lease's remaining seconds, so only interface, family and address are kept).
_FINGERPRINT = (
    "for f in /etc/machine-id /proc/sys/kernel/random/boot_id /etc/os-release /etc/lsb-release "
    '/etc/hostname /etc/hosts /etc/resolv.conf "$1/code-checksum"; do '
    'printf "== %s\\n" "$f"; cat -- "$f" 2>/dev/null; done; '
    'echo "== uname"; uname -a; '
    'echo "== memory"; grep -E "^(MemTotal|SwapTotal):" /proc/meminfo; '
    'echo "== cpus"; getconf _NPROCESSORS_ONLN; '
    'echo "== packages"; for f in /var/lib/dpkg/status /var/lib/rpm; do '
    '[ -e "$f" ] && stat -c "%n %s %Y" -- "$f"; done; '
    "echo \"== addresses\"; ip -o addr show 2>/dev/null | awk '{print $2, $3, $4}'; "
    'echo "== links"; for f in /sys/class/net/*/address; do printf "%s " "$f"; cat -- "$f"; done; '
    "echo == end"
)


def fingerprint_command(thin_dir: str, sudo: bool = False, sudo_user: str | None = None) -> str:
    """The remote command printing the host fingerprint (through sudo as the shim when the roster says so)."""
    import shlex

    return _sudo_prefix(sudo, sudo_user) + "/bin/sh -c " + shlex.join([_FINGERPRINT, "lostops-fingerprint", thin_dir])


def local_key(salt_version: str, target: dict, thin_dir: str, minion_config: str) -> str:
    """What on this side decides test.opts_pkg's answer: Salt, where and as whom, the minion options sent."""
    data = {
        "salt": salt_version,
        "target": {k: target.get(k) for k in ("host", "port", "user", "sudo", "sudo_user")},
        "thin_dir": thin_dir,
        "minion_config": minion_config,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class OptsPkgCache:
    """One minion's cached test.opts_pkg answer: {key, fingerprint, time, opts_pkg} in a 0600 JSON file."""

    def __init__(self, cachedir: str | os.PathLike, minion_id: str, ttl: float = OPTS_CACHE_TTL_S):
        self.path = Path(cachedir) / "minions" / minion_id / OPTS_CACHE_FILE
        self.ttl = ttl

    def load(self, key: str, fingerprint: str, now: float | None = None) -> dict | None:
        """The cached answer when key and fingerprint match and it is younger than ttl; else None."""
        now = time.time() if now is None else now
        try:
            entry = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("opts_pkg"), dict):
            return None
        if entry.get("key") != key or entry.get("fingerprint") != fingerprint:
            return None
        age = now - float(entry.get("time") or 0)
        if not 0 <= age < self.ttl:
            return None
        return entry["opts_pkg"]

    def store(self, key: str, fingerprint: str, opts_pkg: dict, now: float | None = None) -> None:
        entry = {"key": key, "fingerprint": fingerprint, "time": time.time() if now is None else now}
        entry["opts_pkg"] = opts_pkg
        text = json.dumps(entry, sort_keys=True, default=str)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".opts_pkg.")  # 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def refreshed_at(self) -> float | None:
        """When the cached answer was last made by a real test.opts_pkg (None: no entry)."""
        try:
            return float(json.loads(self.path.read_text())["time"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


def opts_pkg_cached(cache: OptsPkgCache, key: str, run_fingerprint, fetch, on_ssh_failure, force: bool = False):
    """test.opts_pkg through the cache.

    run_fingerprint() -> (stdout, stderr, retcode) of the fingerprint command;
    fetch() -> Salt's own test.opts_pkg call; on_ssh_failure(stdout, stderr,
    retcode) reports an unreachable host as Salt would (raises).
    """
    stdout, stderr, retcode = run_fingerprint()
    if retcode == SSH_FAILED:
        return on_ssh_failure(stdout, stderr, retcode)
    if retcode != 0 or not (stdout or "").rstrip().endswith("== end"):
        return fetch()  # no fingerprint: Salt's own call, nothing cached
    fingerprint = hashlib.sha256(stdout.encode()).hexdigest()
    if not force:
        hit = cache.load(key, fingerprint)
        if hit is not None:
            return hit
    answer = fetch()
    if isinstance(answer, dict):
        cache.store(key, fingerprint, answer)
    return answer


class _Recorder:
    """Passes handle_routine's (ret, retcode) on to Salt's queue and keeps the retcode."""

    def __init__(self, que):
        self.que = que
        self.retcode = None

    def put(self, item, *args, **kwargs):
        try:
            self.retcode = item[1]
        except (TypeError, IndexError):
            pass
        return self.que.put(item, *args, **kwargs)


def _ssh_class():
    import salt.client.ssh

    class WipingSSH(salt.client.ssh.SSH):
        """Salt's SSH client; after each host's routine, that host's pillar-bearing files go."""

        def handle_routine(self, que, opts, host, target, mine=False):
            rec = _Recorder(que)
            try:
                if grains_cache_enabled(os.environ):
                    with _opts_pkg_from_cache():
                        super().handle_routine(rec, opts, host, target, mine)
                else:
                    super().handle_routine(rec, opts, host, target, mine)
            finally:
                if rec.retcode != SSH_FAILED:
                    wipe_host(opts, host, target, self.fsclient)

    return WipingSSH


ENV_GRAINS_CACHE = "LOSTOPS_SALT_SSH_GRAINS_CACHE"


def grains_cache_enabled(environ) -> bool:
    """The cache is on unless LOSTOPS_SALT_SSH_GRAINS_CACHE=0 (anything else: on)."""
    return environ.get(ENV_GRAINS_CACHE, "1").strip() != "0"


class _opts_pkg_from_cache:
    """While one host's routine runs: FunctionWrapper["test.opts_pkg"] goes through the cache.

    Salt calls it as ``pre_wrapper["test.opts_pkg"]()`` in
    ``Single._run_wfunc_thin``; every other function is Salt's own. The
    routine runs in its own process (salt-ssh's ``handle_ssh``), the class
    attribute is restored afterwards all the same.
    """

    def __enter__(self):
        import salt.client.ssh.wrapper as wrapper_mod

        self.cls = wrapper_mod.FunctionWrapper
        self.original = self.cls.__getitem__
        original = self.original

        def __getitem__(wrapper, cmd):
            caller = original(wrapper, cmd)
            if cmd != "test.opts_pkg":
                return caller
            return lambda *args, **kwargs: (
                caller(*args, **kwargs) if (args or kwargs) else _opts_pkg_for(wrapper, caller)
            )

        self.cls.__getitem__ = __getitem__
        return self

    def __exit__(self, *exc):
        self.cls.__getitem__ = self.original
        return False


def _opts_pkg_for(wrapper, caller):
    """test.opts_pkg of the wrapper's host: cached while its fingerprint and key stay (module docstring)."""
    import copy

    import salt.client.ssh
    import salt.client.ssh.wrapper
    import salt.version

    opts = wrapper.opts
    single = salt.client.ssh.Single(
        copy.deepcopy(opts),
        ["test.opts_pkg"],
        mods=wrapper.mods,
        disable_wipe=True,
        fsclient=wrapper.fsclient,
        minion_opts=wrapper.minion_opts,
        **wrapper.kwargs,
    )
    cache = OptsPkgCache(opts["cachedir"], single.id)
    key = local_key(salt.version.__version__, single.target, single.thin_dir, single.minion_config)
    cmd = fingerprint_command(
        single.thin_dir, sudo=bool(single.target.get("sudo")), sudo_user=single.target.get("sudo_user")
    )

    def on_ssh_failure(stdout, stderr, retcode):
        return salt.client.ssh.wrapper.parse_ret(stdout, stderr, retcode, result_only=True)

    return opts_pkg_cached(
        cache,
        key,
        lambda: single.shell.exec_cmd(cmd),
        caller,
        on_ssh_failure,
        force=bool(opts.get("refresh_cache") or opts.get("regen_thin")),
    )


def wipe_host(opts, host: str, target: dict, fsclient) -> bool:
    """Remove the run's leftovers on one host with Salt's own Single/Shell (same thin_dir, same ssh options)."""
    import copy
    import logging

    import salt.client.ssh

    log = logging.getLogger("lostops.saltssh")
    try:
        single = salt.client.ssh.Single(
            copy.deepcopy(opts), ["test.ping"], host, fsclient=fsclient, thin=None, **target
        )
        cmd = wipe_command(
            single.thin_dir, sudo=bool(single.target.get("sudo")), sudo_user=single.target.get("sudo_user")
        )
        stdout, stderr, retcode = single.shell.exec_cmd(cmd)
    except Exception as exc:  # report it; the run's own result stays what it was
        print(f"lostops salt-ssh: {host}: wiping the run's pillar failed: {exc}", file=sys.stderr, flush=True)
        return False
    if retcode != 0:
        msg = (stderr or stdout or "").strip().splitlines()
        print(
            f"lostops salt-ssh: {host}: wiping the run's pillar failed (exit {retcode})"
            + (f": {msg[-1]}" if msg else ""),
            file=sys.stderr,
            flush=True,
        )
        return False
    log.debug("wiped the run's pillar on %s", host)
    return True


# ------------------------------------------------------------------ less waiting per ssh command

# Bytes asked of the pty per read: Salt's Terminal.recv reads 1,024 by default and _run_cmd
# (salt/client/ssh/shell.py) sleeps 10 ms between reads, so a host's 40-60 KB state return took
# 0.4-0.5 s to arrive; a pty hands over up to about 4 KB per read, a quarter of the reads.
RECV_BYTES = 65536
JINJA_BYTECODE_DIR = "jinja_bytecode"


def _salts_own(cls):
    """The class Salt or Jinja defines, also after install_speedups() replaced it (nothing stacks)."""
    return getattr(cls, "_lostops_base", cls)


def _terminal_class():
    """Salt's Terminal (salt/utils/vt.py) with two waits taken out, nothing else changed.

    - ``recv()`` without a size reads up to :data:`RECV_BYTES` instead of 1,024.
    - ``close()`` of a child whose stdout and stderr are both at end of file
      reaps it (the blocking ``waitpid`` that Salt's own ``terminate()`` makes
      in that case, after its fixed 0.1 s sleeps) and closes the pty; Salt's
      ``close()`` sleeps 0.1 s first, then checks, then signals, every time:
      4 ssh commands per host, 0.2-0.3 s each. A child whose streams are still
      open goes through Salt's ``close()`` as before (signals, then kill).
    """
    import salt.utils.vt

    base = _salts_own(salt.utils.vt.Terminal)

    class PromptTerminal(base):
        _lostops_base = base

        def recv(self, maxsize=None):
            return super().recv(RECV_BYTES if maxsize is None else maxsize)

        def close(self, terminate=True, kill=False):
            if not self.closed and terminate and not self.has_unread_data and not self.isalive():
                for attr in ("child_fd", "child_fde"):
                    fd = getattr(self, attr)
                    if fd is not None:
                        os.close(fd)
                        setattr(self, attr, None)
                self.closed = True
                return
            super().close(terminate=terminate, kill=kill)

    return PromptTerminal


# What an Environment compiles a template with, besides its source: Jinja keys its bytecode cache by
# name and source only, while Salt sets these per environment (jinja_env, jinja_sls_env, a template's
# "#jinja2:" header), so the same import could be compiled under other options elsewhere.
_COMPILE_OPTIONS = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
    "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized", "autoescape",
    "finalize", "is_async",
)  # fmt: skip


def _option_text(value) -> str:
    # a callable (finalize, autoescape) by its name: its repr holds an address that changes per process
    return f"{value.__module__}.{value.__qualname__}" if callable(value) else repr(value)


def _bytecode_cache_class():
    import jinja2

    class OptionsKeyedBytecodeCache(jinja2.FileSystemBytecodeCache):
        """Jinja's file cache, keyed also by the environment's compile options and extensions."""

        def get_bucket(self, environment, name, filename, source):
            options = [_option_text(getattr(environment, a, None)) for a in _COMPILE_OPTIONS]
            options += sorted(environment.extensions)
            return super().get_bucket(environment, name + "\0" + "\0".join(options), filename, source)

    return OptionsKeyedBytecodeCache


def _jinja_bytecode_environment(cache_dir: str | os.PathLike):
    """Jinja's sandbox (the class Salt's render_jinja_tmpl instantiates) with a bytecode cache in cache_dir.

    Salt builds a new Environment for every template it renders, so a formula's
    imports (salt/lib/map.jinja and the like) were parsed and compiled again for
    every SLS of every host and run: about 60 compiles per host, 0.3-0.5 s.
    Jinja's own FileSystemBytecodeCache keeps the compiled code keyed by the
    template's name, the environment's compile options (delimiters, trim and
    lstrip, extensions, ...) and a checksum of its source (a changed file or
    other options compile again); the directory is 0700 and holds code
    compiled from the repository's templates, never a rendered value.
    """
    import jinja2
    import jinja2.sandbox

    path = Path(cache_dir)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    bytecode_cache = _bytecode_cache_class()(str(path))
    base = _salts_own(jinja2.sandbox.SandboxedEnvironment)

    class CachedSandboxedEnvironment(base):
        _lostops_base = base

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("bytecode_cache", bytecode_cache)
            super().__init__(*args, **kwargs)

    return CachedSandboxedEnvironment


def install_jinja_bytecode_cache(directory: str | os.PathLike) -> None:
    """In this process only: Salt's Jinja renders compile each template once, cached in directory.

    Also used by lostops.render's Salt processes (the unit tier's and `make render`'s renders).
    """
    import jinja2.sandbox

    jinja2.sandbox.SandboxedEnvironment = _jinja_bytecode_environment(directory)


def install_speedups(cachedir: str | os.PathLike) -> None:
    """In this process only: Salt's ssh Terminal and Jinja sandbox get the classes above."""
    import salt.utils.vt

    salt.utils.vt.Terminal = _terminal_class()
    install_jinja_bytecode_cache(Path(cachedir) / JINJA_BYTECODE_DIR)


def _terminate(signum, _frame):
    # Salt's own handler exits 0 on SIGTERM; exit non-zero, through the finally blocks.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    """salt-ssh ARGV; its exit status."""
    import salt.defaults.exitcodes
    import salt.exceptions
    import salt.utils.parsers

    if "" in sys.path:
        sys.path.remove("")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    parser = salt.utils.parsers.SaltSSHOptionParser(prog="salt-ssh")  # the Saltfile section is named after it
    if "-H" in argv or "--hosts" in argv:
        argv = [*argv, "x", "x"]  # as salt/cli/ssh.py: two mandatory words unused with -H
    parser.parse_args(argv)
    opts = parser.config
    # --regen-thin sets ssh_wipe itself (a fresh bundle); otherwise keep the bundle.
    if not opts.get("regen_thin"):
        opts["ssh_wipe"] = False
    install_speedups(opts["cachedir"])
    try:
        ssh = _ssh_class()(opts)
        try:
            ssh.run()
        finally:
            ssh.fsclient.destroy()
    except salt.exceptions.SaltClientError as err:
        print(str(err), file=sys.stderr, flush=True)
        return salt.defaults.exitcodes.EX_GENERIC
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # python -m lostops.saltssh ARGS
    sys.exit(main(sys.argv[1:]))
