"""lostops salt-ssh waits less per ssh command and compiles each Jinja template once (lostops/saltssh.py).

The Terminal runs real child processes here through Salt's own
salt.utils.vt.Terminal, read the way salt/client/ssh/shell.py ``_run_cmd``
reads them; the Jinja environment renders real templates with Jinja's own
bytecode cache. The hooks are checked against the installed Salt's source, so
a Salt upgrade that stops building these classes by name fails here.
"""

from __future__ import annotations

import inspect
import os
import stat
import time

import jinja2
import jinja2.sandbox
import pytest
import salt.client.ssh.shell
import salt.utils.templates
import salt.utils.vt

from lostops import saltssh


def _read_all(term) -> tuple[str, str, int]:
    """As Salt's Shell._run_cmd: recv until both streams are at end of file; (stdout, stderr, reads)."""
    out, err, reads = "", "", 0
    while term.has_unread_data:
        o, e = term.recv()
        reads += 1
        out += o or ""
        err += e or ""
        time.sleep(0.01)
    return out, err, reads


def _term(cls, script: str):
    return cls(["/bin/sh", "-c", script], stream_stdout=False, stream_stderr=False)


def test_salt_builds_the_classes_by_name_at_call_time():
    # The classes only take effect because Salt looks them up when it runs a command / renders a template.
    assert "salt.utils.vt.Terminal(" in inspect.getsource(salt.client.ssh.shell.Shell._run_cmd)
    assert "jinja2.sandbox.SandboxedEnvironment(" in inspect.getsource(salt.utils.templates.render_jinja_tmpl)
    # ... and what they take out is still there in Salt: a fixed sleep in close(), 1,024 bytes per recv().
    assert "time.sleep(0.1)" in inspect.getsource(salt.utils.vt.Terminal.close)
    assert "maxsize = 1024" in inspect.getsource(salt.utils.vt.Terminal.recv)


def test_a_finished_command_is_closed_without_salts_sleeps_and_keeps_its_exit_status():
    cls = saltssh._terminal_class()
    term = _term(cls, "printf out; printf err >&2; exit 3")
    out, err, _ = _read_all(term)
    t0 = time.monotonic()
    term.close(terminate=True, kill=True)
    took = time.monotonic() - t0
    assert (out, err.strip(), term.exitstatus, term.closed) == ("out", "err", 3, True)
    assert took < 0.05, took
    assert term.child_fd is None and term.child_fde is None

    salts = _term(salt.utils.vt.Terminal, "exit 3")  # the same command with Salt's own class
    _read_all(salts)
    t0 = time.monotonic()
    salts.close(terminate=True, kill=True)
    assert salts.exitstatus == 3 and time.monotonic() - t0 >= 0.1


def test_a_child_that_closed_its_streams_is_waited_for_not_signalled():
    term = _term(saltssh._terminal_class(), "exec >/dev/null 2>&1; sleep 0.1; exit 5")
    _read_all(term)
    term.close(terminate=True, kill=True)
    assert term.exitstatus == 5 and term.signalstatus is None


def test_a_child_still_writing_goes_through_salts_close_and_is_stopped():
    term = _term(saltssh._terminal_class(), "echo started; exec sleep 30")
    while "started" not in (term.recv()[0] or ""):
        time.sleep(0.01)
    t0 = time.monotonic()
    term.close(terminate=True, kill=True)
    assert term.closed and term.signalstatus is not None and term.exitstatus is None
    assert time.monotonic() - t0 < 5


def test_a_large_return_arrives_in_fewer_reads():
    size = 24_000  # a host's state return is 40-60 KB; a pty hands over at most about 4 KB per read

    def reads(cls) -> int:
        term = _term(cls, f"head -c {size} /dev/zero | tr '\\0' x")
        out, _, n = _read_all(term)
        term.close()
        assert len(out) == size
        return n

    ours, salts = reads(saltssh._terminal_class()), reads(salt.utils.vt.Terminal)
    assert salts >= size // 1024 and ours <= salts // 3, (ours, salts)


def test_jinja_compiles_a_template_once_and_again_when_it_changes(tmp_path):
    src, cache = tmp_path / "salt", tmp_path / "cache" / "jinja_bytecode"
    src.mkdir()
    (src / "map.jinja").write_text("{% macro port(p) %}port {{ p }}{% endmacro %}")
    (src / "init.sls").write_text("{% from 'map.jinja' import port %}{{ port(22) }}")
    env_class = saltssh._jinja_bytecode_environment(cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700

    loads = []

    def render() -> str:
        env = env_class(loader=jinja2.FileSystemLoader(str(src)))  # Salt: a new environment per template
        bcc = env.bytecode_cache
        original = bcc.load_bytecode
        bcc.load_bytecode = lambda bucket: (original(bucket), loads.append(bucket.code is not None))[0]
        try:
            return env.get_template("init.sls").render()
        finally:
            bcc.load_bytecode = original

    assert render() == "port 22"
    files = sorted(cache.iterdir())
    assert len(files) == 2 and not any(loads)  # compiled and stored: init.sls and map.jinja
    assert all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in files)
    loads.clear()
    assert render() == "port 22" and loads == [True, True]  # both from the cache

    (src / "map.jinja").write_text("{% macro port(p) %}tcp/{{ p }}{% endmacro %}")
    loads.clear()
    assert render() == "tcp/22" and loads == [True, False]  # the changed import compiled again
    assert isinstance(env_class(), jinja2.sandbox.SandboxedEnvironment)
    own = jinja2.FileSystemBytecodeCache(str(tmp_path))
    assert env_class(bytecode_cache=own).bytecode_cache is own  # an explicit cache is kept


def test_installing_twice_does_not_stack_and_stays_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(salt.utils.vt, "Terminal", salt.utils.vt.Terminal)
    monkeypatch.setattr(jinja2.sandbox, "SandboxedEnvironment", jinja2.sandbox.SandboxedEnvironment)
    salts_terminal, jinjas_sandbox = salt.utils.vt.Terminal, jinja2.sandbox.SandboxedEnvironment
    for _ in range(2):
        saltssh.install_speedups(tmp_path)
        assert salt.utils.vt.Terminal.__bases__ == (salts_terminal,)
        assert jinja2.sandbox.SandboxedEnvironment.__bases__ == (jinjas_sandbox,)
    assert (tmp_path / saltssh.JINJA_BYTECODE_DIR).is_dir()


@pytest.mark.parametrize("mode", [0o755, 0o777])
def test_an_existing_bytecode_directory_is_made_private(tmp_path, mode):
    cache = tmp_path / "jinja_bytecode"
    cache.mkdir()
    os.chmod(cache, mode)
    saltssh._jinja_bytecode_environment(cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_an_import_compiled_under_other_options_is_not_reused(tmp_path):
    # Salt sets options per environment (jinja_env, jinja_sls_env, a "#jinja2:" header); Jinja's own
    # key is the name and the source only.
    src = tmp_path / "salt"
    src.mkdir()
    (src / "lib.jinja").write_text("{% macro items() %}\n{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}\n{% endmacro %}")
    (src / "top.sls").write_text("{% from 'lib.jinja' import items %}{{ items() }}")
    env_class = saltssh._jinja_bytecode_environment(tmp_path / "cache")

    def render(**options) -> str:
        return env_class(loader=jinja2.FileSystemLoader(str(src)), **options).get_template("top.sls").render()

    plain, trimmed = render(), render(trim_blocks=True)
    assert (plain, trimmed) == (jinja2.Environment(loader=jinja2.FileSystemLoader(str(src))).get_template(
        "top.sls").render(), "1\n2\n")  # fmt: skip
    assert plain != trimmed and render() == plain and render(trim_blocks=True) == trimmed
    assert len(list((tmp_path / "cache").iterdir())) == 4  # two options sets x two templates
    assert saltssh._option_text(print) == "builtins.print"  # a callable by name, not its address
