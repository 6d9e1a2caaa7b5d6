"""lostops salt-ssh answers Salt's test.opts_pkg from a cache while the host is unchanged (lostops/saltssh.py).

The fingerprint command runs here with the machine's own /bin/sh (it is POSIX
sh reading /etc, /proc and /sys, as on a host); the cache and the decision
are tables; the hook is checked against the installed Salt's source, so a Salt
upgrade that stops calling test.opts_pkg this way fails here, not silently.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import stat
import subprocess
import sys

import pytest

from lostops import saltssh

KEY, FP = "k" * 64, "f" * 64
ANSWER = {"grains": {"os": "Debian", "osfinger": "Debian-13"}, "id": "backend", "cachedir": "/var/tmp/x"}


def _run(cmd: str) -> subprocess.CompletedProcess:
    # the remote login shell reads the command line as ssh passes it
    return subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=30, check=False)


def test_the_fingerprint_runs_in_posix_sh_and_ends_with_its_marker(tmp_path):
    thin = tmp_path / "thin dir"  # a blank in the path: the quoting holds
    thin.mkdir()
    (thin / "code-checksum").write_text("abc123\n")
    r = _run(saltssh.fingerprint_command(str(thin)))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.rstrip().endswith("== end")
    for section in ("== /etc/os-release", "== uname", "== memory", "== cpus", "== packages", "== addresses"):
        assert section in out, section
    assert "abc123" in out  # the thin bundle's checksum is part of it
    assert "valid_lft" not in out and "preferred_lft" not in out  # no lease countdowns


def test_the_fingerprint_is_stable_and_moves_with_the_thin_bundle(tmp_path):
    (tmp_path / "code-checksum").write_text("one\n")
    cmd = saltssh.fingerprint_command(str(tmp_path))
    first, second = _run(cmd).stdout, _run(cmd).stdout
    assert first == second
    (tmp_path / "code-checksum").write_text("two\n")
    assert _run(cmd).stdout != first
    (tmp_path / "code-checksum").unlink()  # thin bundle gone: different again, still complete
    gone = _run(cmd)
    assert gone.returncode == 0 and gone.stdout not in (first, second) and gone.stdout.rstrip().endswith("== end")


@pytest.mark.parametrize(
    ("sudo", "sudo_user", "prefix"),
    [(False, None, "/bin/sh -c "), (True, None, "sudo -n /bin/sh -c "), (True, "a b", "sudo -n -u 'a b' /bin/sh -c ")],
)
def test_the_fingerprint_runs_as_the_shim_does(sudo, sudo_user, prefix):
    cmd = saltssh.fingerprint_command("/var/tmp/.x_salt", sudo=sudo, sudo_user=sudo_user)
    assert cmd.startswith(prefix)
    # salt/client/ssh/shell.py _split_cmd splits the command line on "/bin/sh": exactly once
    assert cmd.count("/bin/sh") == 1


BASE = {
    "salt": "3008.4",
    "target": {"host": "10.0.0.4", "port": 22, "user": "root"},
    "thin": "/var/tmp/t",
    "mc": "a: 1\n",
}


@pytest.mark.parametrize(
    "change",
    [
        {"salt": "3008.5"},
        {"target": {"host": "10.0.0.5", "port": 22, "user": "root"}},
        {"target": {"host": "10.0.0.4", "port": 2222, "user": "root"}},
        {"target": {"host": "10.0.0.4", "port": 22, "user": "admin"}},
        {"target": {"host": "10.0.0.4", "port": 22, "user": "root", "sudo": True}},
        {"thin": "/var/tmp/u"},
        {"mc": "a: 2\n"},
    ],
)
def test_the_local_key_moves_with_everything_that_decides_the_answer(change):
    def key(d):
        return saltssh.local_key(d["salt"], d["target"], d["thin"], d["mc"])

    assert key(BASE) == key(dict(BASE))
    assert key({**BASE, **change}) != key(BASE)


def test_the_local_key_ignores_what_cannot_change_the_answer():
    a = saltssh.local_key("3008.4", {**BASE["target"], "priv": "/k1", "ssh_options": ["A=1"]}, "/t", "m")
    b = saltssh.local_key("3008.4", {**BASE["target"], "priv": "/k2", "ssh_options": ["A=2"]}, "/t", "m")
    assert a == b


# (stored key, stored fingerprint, stored age s, asked key, asked fingerprint) -> hit?
CACHE_CASES = [
    ("same key, same fingerprint, fresh", KEY, FP, 5, KEY, FP, True),
    ("other local key", KEY, FP, 5, "x" * 64, FP, False),
    ("host changed", KEY, FP, 5, KEY, "g" * 64, False),
    ("too old", KEY, FP, saltssh.OPTS_CACHE_TTL_S, KEY, FP, False),
    ("from the future (clock moved back)", KEY, FP, -5, KEY, FP, False),
]


@pytest.mark.parametrize(
    ("stored_key", "stored_fp", "age", "key", "fp", "hit"),
    [c[1:] for c in CACHE_CASES],
    ids=[c[0] for c in CACHE_CASES],
)
def test_the_cache_answers_only_for_the_same_key_fingerprint_and_age(
    tmp_path, stored_key, stored_fp, age, key, fp, hit
):
    cache = saltssh.OptsPkgCache(tmp_path, "backend")
    now = 1_000_000.0
    cache.store(stored_key, stored_fp, ANSWER, now=now - age)
    assert cache.load(key, fp, now=now) == (ANSWER if hit else None)


@pytest.mark.parametrize("content", ["", "{", "[]", '{"key": "k"}', '{"opts_pkg": [], "key": "k", "fingerprint": "f"}'])
def test_a_damaged_cache_file_is_a_miss(tmp_path, content):
    cache = saltssh.OptsPkgCache(tmp_path, "backend")
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text(content)
    assert cache.load("k", "f") is None
    assert saltssh.OptsPkgCache(tmp_path, "nobody").load("k", "f") is None


def test_the_cache_file_is_private_and_in_salts_per_minion_directory(tmp_path):
    cache = saltssh.OptsPkgCache(tmp_path, "database")
    cache.store(KEY, FP, ANSWER, now=42.0)
    assert cache.path == tmp_path / "minions" / "database" / saltssh.OPTS_CACHE_FILE
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600
    assert json.loads(cache.path.read_text())["opts_pkg"] == ANSWER
    assert cache.refreshed_at() == 42.0
    assert [p.name for p in cache.path.parent.iterdir()] == [saltssh.OPTS_CACHE_FILE]  # no temp file left


FP_OUT = "== /etc/machine-id\nabc\n== end\n"
FP_HASH = hashlib.sha256(FP_OUT.encode()).hexdigest()

# (case, fingerprint result, cached entry (key, fp) or None, force) -> (Salt's call made?, cache rewritten?, ssh failure?)
DECISIONS = [
    ("first run: Salt's call, cached", (FP_OUT, "", 0), None, False, True, True, False),
    ("unchanged host: from the cache", (FP_OUT, "", 0), (KEY, FP_HASH), False, False, False, False),
    ("changed host: Salt's call, cached again", (FP_OUT, "", 0), (KEY, "0" * 64), False, True, True, False),
    ("--refresh: Salt's call", (FP_OUT, "", 0), (KEY, FP_HASH), True, True, True, False),
    ("fingerprint failed: Salt's call, nothing cached", ("", "sh: oops", 2), None, False, True, False, False),
    (
        "fingerprint cut short: Salt's call, nothing cached",
        ("== /etc/machine-id\nabc\n", "", 0),
        None,
        False,
        True,
        False,
        False,
    ),
    (
        "unreachable: reported once, no second try",
        ("", "ssh: connect to host x: No route to host", 255),
        None,
        False,
        False,
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("fingerprint", "cached", "force", "fetched", "stored", "ssh_failed"),
    [d[1:] for d in DECISIONS],
    ids=[d[0] for d in DECISIONS],
)
def test_opts_pkg_goes_through_the_cache(tmp_path, fingerprint, cached, force, fetched, stored, ssh_failed):
    cache = saltssh.OptsPkgCache(tmp_path, "backend")
    old = {"grains": {"os": "old"}}
    if cached:
        cache.store(cached[0], cached[1], old)
    before = cache.refreshed_at()
    calls = []

    def fetch():
        calls.append("fetch")
        return ANSWER

    def on_ssh_failure(stdout, stderr, retcode):
        calls.append(("failed", retcode, stderr))
        raise RuntimeError(stderr)

    if ssh_failed:
        with pytest.raises(RuntimeError, match="No route to host"):
            saltssh.opts_pkg_cached(cache, KEY, lambda: fingerprint, fetch, on_ssh_failure, force=force)
        assert calls == [("failed", 255, fingerprint[1])]
        return
    got = saltssh.opts_pkg_cached(cache, KEY, lambda: fingerprint, fetch, on_ssh_failure, force=force)
    assert calls == (["fetch"] if fetched else [])
    assert got == (ANSWER if fetched else old)
    assert (cache.refreshed_at() != before) == stored
    if stored:
        assert cache.load(KEY, FP_HASH) == ANSWER


def test_the_installed_salt_still_calls_opts_pkg_where_the_hook_sits():
    import salt.client.ssh

    src = inspect.getsource(salt.client.ssh.Single._run_wfunc_thin)
    # the two lines that make Salt start salt-call twice per host, and the call the cache answers
    assert "data_cache = False" in src
    assert 'pre_wrapper["test.opts_pkg"]()' in src
    assert "salt.client.ssh.wrapper.FunctionWrapper(" in src


def test_the_hook_routes_only_opts_pkg_and_is_undone(monkeypatch):
    import salt.client.ssh.wrapper as wrapper_mod

    seen = []
    monkeypatch.setattr(saltssh, "_opts_pkg_for", lambda wrapper, caller: seen.append(caller) or {"cached": True})
    original = wrapper_mod.FunctionWrapper.__getitem__
    fw = wrapper_mod.FunctionWrapper({}, "backend", host="10.0.0.4")
    with saltssh._opts_pkg_from_cache():
        assert fw["test.opts_pkg"]() == {"cached": True}
        assert len(seen) == 1
        other = fw["test.ping"]
        assert other.__name__ == "caller"  # Salt's own remote call, untouched
    assert wrapper_mod.FunctionWrapper.__getitem__ is original


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("", True), ("0", False), (" 0 ", False)])
def test_the_cache_can_be_turned_off_for_a_comparison(value, on):
    env = {} if value is None else {saltssh.ENV_GRAINS_CACHE: value}
    assert saltssh.grains_cache_enabled(env) is on


@pytest.mark.parametrize(("argv", "refresh"), [([], False), (["--refresh"], True)])
def test_salt_ssh_refresh_reaches_the_option_the_cache_reads(argv, refresh):
    # in a process of its own: Salt's option parser freezes its logging set-up after one parse
    from pathlib import Path

    code = (
        "import sys; from salt.utils.parsers import SaltSSHOptionParser; p = SaltSSHOptionParser(); "
        "p.parse_args(); print(bool(p.config.get('refresh_cache')))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "-c", "etc/salt", *argv, "*", "test.ping"],
        cwd=Path(saltssh.__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-500:]
    # _opts_pkg_for passes force=opts["refresh_cache"] or opts["regen_thin"]
    assert r.stdout.strip().splitlines()[-1] == str(refresh)
