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
"""

from __future__ import annotations

import signal
import sys

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

    prefix = ("sudo -n " + (f"-u {shlex.quote(sudo_user)} " if sudo_user else "")) if sudo else ""
    return prefix + "/bin/sh -c " + shlex.join([_WIPE, "lostops-wipe", thin_dir, *temp_dirs])


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
                super().handle_routine(rec, opts, host, target, mine)
            finally:
                if rec.retcode != SSH_FAILED:
                    wipe_host(opts, host, target, self.fsclient)

    return WipingSSH


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
