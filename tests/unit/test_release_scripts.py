"""Unit tests of the release/deploy/JIT commands: `lostops release guard|plan|rollout`,
`lostops jit`, and `lostops summary drift --no-comments`.

Pure functions are tested as imported modules (tables of cases); each command
is also run once in-process (tests/unit/clirun.py), the way make and the
workflows run it. No Azure, no host: `lostops jit` is exercised with --dry-run
and with the `exec` channel pointed at a local shell.
"""

import json
from pathlib import Path

import pytest

from lostops import gha, jit, release
from lostops.inventory import load
from tests.unit import clirun

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "0123456789abcdef" * 4
COMMANDS = {
    "release-guard": ("release", "guard"),
    "release-plan": ("release", "plan"),
    "release-rollout": ("release", "rollout"),
    "jit-access": ("jit",),
    "drift-summary": ("summary", "drift"),
}


def run(command: str, *args: str, env: dict | None = None):
    return clirun.run(*COMMANDS[command], *args, env=env, unset=("GITHUB_OUTPUT", "LOSTOPS_JIT_IP", "FORCE"))


@pytest.mark.parametrize("command", ["release-guard", "release-plan", "release-rollout", "jit-access"])
def test_commands_have_help(command):
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: lostops {' '.join(COMMANDS[command])} ")


# --- release-guard: version order -----------------------------------------------------

GUARD_CASES = [
    # version, serving, force, allowed, words in the reason
    ("1.4.2", "", False, True, "first deploy"),
    ("1.4.2", "1.4.1", False, True, "upgrade from 1.4.1"),
    ("1.10.0", "1.9.9", False, True, "upgrade"),  # numeric, not string order
    ("2.0.0", "1.99.99", False, True, "upgrade"),
    ("1.4.2", "1.4.2", False, True, "redeploy"),
    ("1.4.1", "1.4.2", False, False, "older than the serving 1.4.2"),
    ("1.9.9", "1.10.0", False, False, "older"),
    ("0.9.0", "1.0.0", False, False, "force: true"),
    ("1.4.1", "1.4.2", True, True, "roll back from 1.4.2 (forced)"),
    ("1.4.2", "garbage", False, False, "not X.Y.Z"),
    ("1.4.2", "garbage", True, True, "forced"),
    ("1.4.2", " 1.4.1\n", False, True, "upgrade"),  # the file's newline
]


@pytest.mark.parametrize("version, serving, force, allowed, words", GUARD_CASES)
def test_release_guard_decides(version, serving, force, allowed, words):
    ok, reason = release.decide(version, serving, force)
    assert ok is allowed
    assert words in reason


@pytest.mark.parametrize("version, serving, force, allowed, words", GUARD_CASES[:9:4])
def test_release_guard_cli_exit_codes(version, serving, force, allowed, words):
    result = run("release-guard", "--version", version, "--serving", serving, *(["--force"] if force else []))
    assert result.returncode == (0 if allowed else 3), result.stderr
    assert words in (result.stdout if allowed else result.stderr)
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1


def test_release_guard_reads_the_environment_and_rejects_a_bad_version():
    result = run("release-guard", env={"APP_VERSION": "1.4.1", "SERVING_VERSION": "1.4.2", "FORCE": "true"})
    assert result.returncode == 0 and "forced" in result.stdout
    assert run("release-guard", "--version", "1.4", "--serving", "1.4.2").returncode == 2


# --- release-plan: what a run builds and deploys ----------------------------------------

BASE = {
    "APP_REPOSITORY": "lostops-stg5/lostops-app",
    "CALLER_REPOSITORY": "lostops-stg5/lostops-app",
    "CALLER_SHA": "c" * 40,
    "INFRA_REPOSITORY": "lostops-stg5/lostops",
    "INFRA_REF": "f" * 40,
}
PLAN_CASES = [
    # id, env, expected subset
    (
        "release",
        {"EVENT_NAME": "release", "RELEASE_TAG": "v1.4.2", "PRERELEASE": "false"},
        # the app's tags have no `v` (lostops-app: 1.0.2): normalized here, in one place
        {"version": "1.4.2", "build": "true", "deploy": "true", "latest": "true", "app-ref": "refs/tags/1.4.2"},
    ),
    (
        "release-tag-without-v",
        {"EVENT_NAME": "release", "RELEASE_TAG": "1.4.2", "PRERELEASE": "false"},
        {"version": "1.4.2", "app-ref": "refs/tags/1.4.2"},
    ),
    (
        "prerelease",
        {"EVENT_NAME": "release", "RELEASE_TAG": "v1.5.0", "PRERELEASE": "true"},
        {"build": "true", "deploy": "false", "latest": "false"},
    ),
    (
        "called",
        {"CALLED": "true", "EVENT_NAME": "release", "INPUT_VERSION": "1.4.3", "PRERELEASE": "false"},
        {"build": "true", "deploy": "true", "app-repository": "lostops-stg5/lostops-app", "app-ref": "c" * 40},
    ),
    (
        "called-prerelease",
        {"CALLED": "true", "EVENT_NAME": "release", "INPUT_VERSION": "1.5.0", "PRERELEASE": "true"},
        {"deploy": "false", "latest": "false"},
    ),
    (
        "called-by-push",
        {"CALLED": "true", "EVENT_NAME": "push", "INPUT_VERSION": "1.4.4"},
        {"build": "true", "deploy": "true"},
    ),
    (
        "dispatch",
        {"EVENT_NAME": "workflow_dispatch", "INPUT_VERSION": "1.4.1"},
        {"build": "false", "deploy": "true", "force": "false", "latest": "false", "app-ref": ""},
    ),
    (
        "dispatch-force",
        {"EVENT_NAME": "workflow_dispatch", "INPUT_VERSION": "v1.4.1", "INPUT_FORCE": "true"},
        {"version": "1.4.1", "force": "true"},
    ),
    (
        "force-ignored-on-release",
        {"EVENT_NAME": "release", "RELEASE_TAG": "1.4.2", "INPUT_FORCE": "true"},
        {"force": "false"},
    ),
]


@pytest.mark.parametrize("env, expected", [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_release_plan(env, expected):
    result = release.plan({**BASE, **env})
    assert {k: result[k] for k in expected} == expected
    assert result["infra-ref"] == "f" * 40


@pytest.mark.parametrize(
    "env, message",
    [
        ({"EVENT_NAME": "release", "RELEASE_TAG": "v1.2.3-rc1"}, "pre-release or build suffix"),
        ({"EVENT_NAME": "workflow_dispatch", "INPUT_VERSION": "1.2"}, "has 2 part(s)"),
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "INFRA_REF": ""}, "no infra ref"),
        ({"EVENT_NAME": "schedule", "RELEASE_TAG": "1.2.3"}, "does not release"),
        # hostile values that would become step outputs: one line each, nothing written
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "INFRA_REF": "f" * 40 + "\nforce=true"}, "not a 40-hex"),
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "INFRA_REF": "main"}, "not a 40-hex"),
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "INFRA_REF": "F" * 40}, "not a 40-hex"),
        ({"CALLED": "true", "INPUT_VERSION": "1.2.3", "CALLER_SHA": "c" * 39}, "CALLER_SHA"),
        ({"CALLED": "true", "INPUT_VERSION": "1.2.3", "CALLER_REPOSITORY": "a/b\nforce=true"}, "not owner/name"),
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "APP_REPOSITORY": "app"}, "not owner/name"),
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "INFRA_REPOSITORY": "o/r\rx"}, "not owner/name"),
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3\nforce=true"}, "version"),
        # a deploy needs the inventory; the repository has no production one
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "LOSTOPS_INVENTORY": "production"}, "does not exist"),
        ({"EVENT_NAME": "release", "RELEASE_TAG": "1.2.3", "LOSTOPS_INVENTORY": "Prod!"}, "not an inventory name"),
    ],
)
def test_release_plan_refuses(env, message):
    with pytest.raises(release.PlanError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        release.plan({**BASE, **env})
    assert "\n" not in str(exc.value) and "\r" not in str(exc.value)


def test_release_plan_without_production_inventory_still_plans_a_pre_release():
    # nothing is deployed, so no inventory is needed
    got = release.plan(
        {
            **BASE,
            "EVENT_NAME": "release",
            "RELEASE_TAG": "1.5.0",
            "PRERELEASE": "true",
            "LOSTOPS_INVENTORY": "production",
        }
    )
    assert got["deploy"] == "false"


@pytest.mark.parametrize(
    "outputs, message",
    [
        ({"infra-ref": "f" * 40 + "\nforce=true"}, "output infra-ref: value holds a control character '\\n'"),
        ({"infra-ref": "abc\rforce=true"}, "output infra-ref: value holds a control character '\\r'"),
        ({"version": "1.2.3\x00"}, "output version: value holds a control character '\\x00'"),
        ({"version": "1.2.3\x1b[31m"}, "output version: value holds a control character '\\x1b'"),
        ({"force=true\nx": "1"}, "output name 'force=true\\nx' is not"),
        ({"": "1"}, "output name '' is not"),
        ({"digest": "x" * 5000}, "output digest: value longer than 4096"),
        ({"ip": "<<EOF"}, "output ip: value looks like a multi-line delimiter"),
    ],
)
def test_github_output_values_are_checked_before_writing(outputs, message, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.write_text("before=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    with pytest.raises(gha.OutputError) as exc:
        gha.set_outputs({"ok": "1", **outputs})
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)
    assert out.read_text() == "before=1\n", "nothing may be written when one value is bad"


def test_github_output_good_values(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert gha.set_outputs({"version": "1.2.3", "app-ref": "refs/tags/1.2.3", "empty": ""}) == (
        "version=1.2.3\napp-ref=refs/tags/1.2.3\nempty=\n"
    )
    assert out.read_text() == "version=1.2.3\napp-ref=refs/tags/1.2.3\nempty=\n"


def test_release_plan_cli_hostile_infra_ref_adds_no_output(tmp_path):
    out = tmp_path / "out"
    out.write_text("")
    env = {**BASE, "EVENT_NAME": "release", "RELEASE_TAG": "v2.0.0", "GITHUB_OUTPUT": str(out)}
    bad = run("release-plan", env={**env, "INFRA_REF": "f" * 40 + "\nforce=true"})
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("release-plan: infra-ref ")
    assert out.read_text() == "" and "force=true" not in bad.stdout


def test_release_plan_cli_writes_github_output(tmp_path):
    out = tmp_path / "out"
    result = run(
        "release-plan",
        env={**BASE, "EVENT_NAME": "release", "RELEASE_TAG": "v2.0.0", "PRERELEASE": "", "GITHUB_OUTPUT": str(out)},
    )
    assert result.returncode == 0, result.stderr
    assert "version=2.0.0\n" in out.read_text() and "deploy=true\n" in out.read_text()
    bad = run("release-plan", env={**BASE, "EVENT_NAME": "release", "RELEASE_TAG": "v2.0.0", "INFRA_REF": ""})
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


# --- release-rollout: the pillar with the scanned digest -------------------------------


@pytest.mark.parametrize(
    "version, digest, expected",
    [
        ("1.4.2", DIGEST, {"app": {"version": "1.4.2"}, "images": {"app": {"digest": DIGEST}}}),
        ("1.4.2", None, {"app": {"version": "1.4.2"}}),
        ("1.4.2", "", {"app": {"version": "1.4.2"}}),
    ],
)
def test_rollout_pillar(version, digest, expected):
    assert release.pillar(version, digest) == expected


@pytest.mark.parametrize(
    "version, digest",
    [("1.4", DIGEST), ("v1.4.2", DIGEST), ("1.4.2", "sha256:abc"), ("1.4.2", "latest"), ("1.4.2", DIGEST.upper())],
)
def test_rollout_refuses_bad_input(version, digest):
    with pytest.raises(ValueError):
        release.pillar(version, digest)


def test_rollout_command_is_one_salt_ssh_state_apply_with_json_pillar():
    result = run(
        "release-rollout",
        "--dry-run",
        "--no-backup",
        env={"APP_VERSION": "1.4.2", "APP_DIGEST": DIGEST, "SALT_SSH": "salt-ssh"},
    )
    assert result.returncode == 0, result.stderr
    pillar_arg = f"pillar={json.dumps(release.pillar('1.4.2', DIGEST), separators=(',', ':'), sort_keys=True)}"
    assert release.salt_command("salt-ssh", "1.4.2", DIGEST) == [
        "salt-ssh",
        "--out=json",
        "*",
        "state.apply",
        pillar_arg,
    ]
    assert result.stdout.startswith("salt-ssh --out=json '*' state.apply 'pillar=")
    assert run("release-rollout", "--dry-run", env={"APP_VERSION": "1.4", "APP_DIGEST": DIGEST}).returncode == 2


@pytest.mark.parametrize(
    "reason, ok",
    [
        (None, False),
        ("", False),
        ("yes", False),
        ("true", False),
        ("   ", False),
        ("\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b", False),
        ("1234567890", False),
        ("lab image, no registry digest", True),
    ],
)
def test_rollout_refuses_a_tag_without_digest_unless_a_reason_is_named(reason, ok):
    env = {"APP_VERSION": "1.4.2", "SALT_SSH": "salt-ssh", "LOSTOPS_INVENTORY": "example", "RELEASE_BACKUP": "false"}
    if reason is not None:
        env["RELEASE_TAG_WITHOUT_DIGEST"] = reason
    result = run("release-rollout", "--dry-run", env=env)
    if ok:
        assert result.returncode == 0, result.stderr
        assert '"images"' not in result.stdout  # the tag, as asked
    else:
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1, result.stderr
        assert "RELEASE_TAG_WITHOUT_DIGEST" in result.stderr


def test_rollout_takes_a_fresh_backup_on_the_database_first():
    env = {"APP_VERSION": "1.4.2", "APP_DIGEST": DIGEST, "SALT_SSH": "salt-ssh", "LOSTOPS_INVENTORY": "example"}
    result = run("release-rollout", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    backup, apply = result.stdout.splitlines()
    assert backup.startswith("salt-ssh --out=json database cmd.run_all ")
    assert "systemctl start lostops-mysql-backup.service" in backup and backup.endswith("python_shell=True")
    assert apply.startswith("salt-ssh --out=json '*' state.apply ")
    off = run("release-rollout", "--dry-run", env={**env, "RELEASE_BACKUP": "false"})
    assert len(off.stdout.splitlines()) == 1


@pytest.mark.parametrize(
    "output, ok, words",
    [
        ('{"database": {"retcode": 0, "stdout": "backup-done", "stderr": ""}}', True, "finished"),
        ('{"database": {"retcode": 0, "stdout": "no-backup-unit", "stderr": ""}}', True, "never converged"),
        ('{"database": {"retcode": 1, "stdout": "", "stderr": "mysqldump: error\\nJob failed"}}', False, "Job failed"),
        ('{"database": {"return": {"retcode": 0, "stdout": "backup-done"}}}', True, "finished"),
        ('{"database": "Permission denied (publickey)."}', False, "unexpected"),
        ("ssh: connect to host", False, "no JSON"),
        ('{"database": {"retcode": 0, "stdout": "", "stderr": ""}}', False, "unexpected output"),
    ],
)
def test_rollout_backup_result(output, ok, words):
    got_ok, line = release.backup_result(output)
    assert got_ok is ok and words in line


# --- jit-access ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, ok",
    [
        ("198.51.100.7", "198.51.100.7"),
        ("198.51.100.7/32", "198.51.100.7"),
        (" 203.0.113.9\n", "203.0.113.9"),
        ("0.0.0.0", None),
        ("127.0.0.1", None),
        ("198.51.100.0/24", None),
        ("2001:db8::1", None),
        ("", None),
        ("1.2.3.4; rm -rf /", None),
    ],
)
def test_jit_parse_ip(raw, ok):
    if ok is None:
        with pytest.raises(jit.JitError):
            jit.parse_ip(raw)
    else:
        assert jit.parse_ip(raw) == ok


@pytest.mark.parametrize(
    "ttl, ok",
    [
        ("30m", True),
        ("2s", True),
        ("1h", True),
        ("3h", True),
        ("180m", True),
        ("10800s", True),
        ("0m", False),
        ("30", False),
        ("30m;x", False),
        # an element left by a dead job must expire within hours, not days
        ("1d", False),
        ("4h", False),
        ("181m", False),
        ("10801s", False),
        ("99999h", False),
        ("３０m", False),
        ("30m\n", False),
    ],
)
def test_jit_parse_ttl(ttl, ok):
    if ok:
        assert jit.parse_ttl(ttl) == ttl
    else:
        with pytest.raises(jit.JitError):
            jit.parse_ttl(ttl)


@pytest.mark.parametrize("inventory", ["example", "lab"])
def test_jit_targets_are_the_directly_reached_hosts_and_their_real_nsgs(inventory):
    inv = load(inventory)
    targets = jit.targets(inv)
    assert {t.host for t in targets} == {n for n, h in inv.hosts.items() if h.ssh_via is None}
    assert "database" not in {t.host for t in targets}  # reached through the backend
    snapshot = json.loads((REPO / "tests" / "unit" / "snapshots" / f"network.{inventory}.json").read_text())
    nsgs = {v["name"]: v for v in snapshot["resource"]["azurerm_network_security_group"].values()}
    priorities = {v["priority"] for v in snapshot["resource"]["azurerm_network_security_rule"].values()}
    for t in targets:
        assert t.nsg in nsgs and nsgs[t.nsg]["resource_group_name"] == t.nsg_resource_group
        assert t.ssh_port == inv.services["ssh"].port
    assert jit.RULE_PRIORITY not in priorities and jit.RULE_PRIORITY < max(priorities)


def _target():
    return jit.Target(
        "backend", "lostops-backend", "lostops-vms", "lostops-backend-nsg", "lostops-network", 22, "backend"
    )


def test_jit_nsg_commands():
    t = _target()
    create = jit.nsg_commands("open", t, "198.51.100.7", "lostops-jit-ssh-123-1", 4093)
    assert create[:5] == ["az", "network", "nsg", "rule", "create"]
    pairs = dict(zip(create[5::2], create[6::2], strict=False))
    assert pairs["--name"] == "lostops-jit-ssh-123-1"
    assert pairs["--priority"] == "4093"
    assert pairs["--source-address-prefixes"] == "198.51.100.7/32"
    assert pairs["--destination-port-ranges"] == "22"
    assert pairs["--access"] == "Allow" and pairs["--direction"] == "Inbound" and pairs["--protocol"] == "Tcp"
    assert pairs["--nsg-name"] == "lostops-backend-nsg" and pairs["--resource-group"] == "lostops-network"
    assert jit.nsg_commands("close", t, None, "lostops-jit-ssh-123-1")[4:11] == [
        "delete",
        "--resource-group",
        "lostops-network",
        "--nsg-name",
        "lostops-backend-nsg",
        "--name",
        "lostops-jit-ssh-123-1",
    ]
    assert "[?starts_with(name, 'lostops-jit-ssh')].{name:name,source:sourceAddressPrefix}" in jit.nsg_commands(
        "check", t, None
    )


@pytest.mark.parametrize(
    "env, tag",
    [
        ({"GITHUB_RUN_ID": "987654321", "GITHUB_RUN_ATTEMPT": "2"}, "987654321-2"),
        ({"GITHUB_RUN_ID": "987654321"}, "987654321-1"),
        ({"LOSTOPS_JIT_RUN": "lab-deploy", "GITHUB_RUN_ID": "1"}, "lab-deploy"),
        ({}, "local"),
        ({"LOSTOPS_JIT_RUN": "x; az vm delete"}, None),
        ({"LOSTOPS_JIT_RUN": "a" * 41}, None),
        ({"GITHUB_RUN_ID": "1\n2"}, None),
    ],
)
def test_jit_run_tag_names_this_runs_rule(env, tag):
    if tag is None:
        with pytest.raises(jit.JitError, match="run tag"):
            jit.run_tag(env)
    else:
        assert jit.run_tag(env) == tag
        assert len(jit.rule_name(tag)) <= 80  # Azure's limit for a rule name


@pytest.mark.parametrize(
    "rules, taken_also, expected",
    [
        ([], set(), 4095),
        ([{"name": "x", "priority": 4095}], set(), 4094),
        ([{"name": "lostops-jit-ssh-1-1", "priority": 4095}, {"name": "y", "priority": 4094}], set(), 4093),
        ([{"name": "x", "priority": 4091}], {4095, 4094, 4093, 4092}, 4089),  # 4090 is the policy's lattice
        ([{"name": "deny-all-inbound", "priority": 4096}], set(), 4095),
    ],
)
def test_jit_free_priority(rules, taken_also, expected):
    got = jit.free_priority(json.dumps(rules), taken_also)
    assert got == expected and got % 10 != 0 and 4000 < got < 4096


def test_jit_free_priority_all_taken():
    with pytest.raises(jit.JitError, match="no free priority"):
        jit.free_priority(json.dumps([{"priority": p} for p in jit.PRIORITIES]))


class FakeRunner(jit.Runner):
    """The azure channel against scripted answers: (predicate on argv, returncode, stdout, stderr)."""

    def __init__(self, answers, conflict_wait=0):
        super().__init__("azure", False, sleep=lambda s: self.slept.append(s), conflict_wait=conflict_wait)
        self.answers = answers
        self.calls: list[list[str]] = []
        self.slept: list[float] = []

    def run(self, argv):
        self.calls.append(argv)
        for match, rc, out, err in self.answers:
            if match(argv):
                if callable(rc):
                    rc, out, err = rc()
                return __import__("subprocess").CompletedProcess(argv, rc, out, err)
        raise AssertionError(f"unexpected command {argv}")


def _ok_run_command(stdout="LOSTOPS_JIT_OK"):
    return json.dumps({"value": [{"message": f"Enable succeeded: \n[stdout]\n{stdout}\n[stderr]\n"}]})


def _targets():
    mon = jit.Target(
        "monitoring", "lostops-monitoring", "lostops-vms", "lostops-monitoring-nsg", "lostops-network", 22, "monitoring"
    )
    return [_target(), mon]


def test_jit_close_tries_every_step_on_every_host_and_says_what_is_left(capsys):
    # backend: the NSG delete fails; monitoring: the run-command fails.
    # Every step is still tried; exit 4 + 1 (NSG rule left) + 2 (element left).
    r = FakeRunner(
        [
            (lambda a: a[4] == "delete" and "lostops-backend-nsg" in a, 1, "", "ERROR: (AuthorizationFailed) no"),
            (lambda a: a[4] == "delete", 0, "", ""),
            (lambda a: a[:4] == ["az", "vm", "run-command", "invoke"] and "lostops-monitoring" in a, 1, "", "boom"),
            (lambda a: a[:4] == ["az", "vm", "run-command", "invoke"], 0, _ok_run_command(), ""),
        ]
    )
    rc = jit.do_close(r, _targets(), "198.51.100.7", "55-1")
    assert rc == jit.EXIT_LEFT + jit.LEFT_NSG + jit.LEFT_ELEMENT == 7
    kinds = [(a[2:5], a[a.index("--nsg-name") + 1] if "--nsg-name" in a else a[a.index("--name") + 1]) for a in r.calls]
    assert kinds == [
        (["nsg", "rule", "delete"], "lostops-backend-nsg"),
        (["run-command", "invoke", "--resource-group"], "lostops-backend"),
        (["nsg", "rule", "delete"], "lostops-monitoring-nsg"),
        (["run-command", "invoke", "--resource-group"], "lostops-monitoring"),
    ]
    # only this run's rule is deleted
    assert all(a[a.index("--name") + 1] == "lostops-jit-ssh-55-1" for a in r.calls if a[4] == "delete")
    out, err = capsys.readouterr()
    assert "jit close: lostops-monitoring-nsg rule lostops-jit-ssh-55-1 removed" in out
    assert "jit close: backend firewall set jit_ssh no longer has 198.51.100.7" in out
    failed = [line for line in err.splitlines() if line.startswith("jit close: FAILED: ")]
    assert len(failed) == 2
    assert failed[0].startswith("jit close: FAILED: backend: NSG lostops-backend-nsg:") and "never expires" in failed[0]
    assert failed[1].startswith("jit close: FAILED: monitoring: firewall set jit_ssh:") and "expires" in failed[1]
    assert err.splitlines()[-1] == "jit close: left open: NSG rule(s) and set element(s) (exit 7)"


@pytest.mark.parametrize(
    "nsg_rc, host_rc, expected",
    [(0, 0, 0), (1, 0, 5), (0, 1, 6), (1, 1, 7)],
)
def test_jit_close_exit_code_says_what_is_left(nsg_rc, host_rc, expected):
    r = FakeRunner(
        [
            (lambda a: a[4] == "delete", nsg_rc, "", "ERROR: x"),
            (lambda a: a[2] == "run-command", host_rc, _ok_run_command() if host_rc == 0 else "", "ERROR: y"),
        ]
    )
    assert jit.do_close(r, _targets(), "198.51.100.7", "1-1") == expected


def test_jit_run_command_conflict_is_retried_until_the_earlier_script_ends():
    answers = iter([(1, "", "ERROR: (Conflict) Run command extension execution is in progress.")] * 2)

    def state():
        return next(answers, (0, _ok_run_command("1.4.2\nLOSTOPS_JIT_OK"), ""))

    r = FakeRunner([(lambda a: a[2] == "run-command", state, "", "")], conflict_wait=600)
    assert r.on_host(_target(), "echo") == "1.4.2"
    assert r.slept == [30, 30] and len(r.calls) == 3


def test_jit_run_command_conflict_gives_up_after_the_wait():
    r = FakeRunner([(lambda a: a[2] == "run-command", 1, "", "ERROR: (Conflict) busy")], conflict_wait=60)
    with pytest.raises(jit.JitError, match="azure channel failed"):
        r.on_host(_target(), "echo")
    assert r.slept == [30, 30] and len(r.calls) == 3


def test_jit_open_takes_a_free_priority_and_retries_a_concurrent_conflict():
    listing = json.dumps(
        [{"name": "deny-all-inbound", "priority": 4096}, {"name": "lostops-jit-ssh-9-1", "priority": 4095}]
    )
    creates = iter([(1, "", "ERROR: (SecurityRuleConflict) Rules cannot have the same Priority and Direction.")])

    def create():
        return next(creates, (0, "", ""))

    r = FakeRunner(
        [
            (lambda a: a[4] == "list", 0, listing, ""),
            (lambda a: a[4] == "create", create, "", ""),
            (lambda a: a[2] == "run-command", 0, _ok_run_command(), ""),
        ]
    )
    assert jit.do_open(r, [_target()], "198.51.100.7", "30m", "10-1") == 0
    prios = [a[a.index("--priority") + 1] for a in r.calls if a[4] == "create"]
    assert prios == ["4094", "4093"], "the other run's 4095 is left alone; a conflict moves to the next free one"


def test_jit_check_lists_every_runs_rule_and_what_it_could_not_check(capsys):
    r = FakeRunner(
        [
            (
                lambda a: a[4] == "list" and "lostops-backend-nsg" in a,
                0,
                json.dumps([{"name": "lostops-jit-ssh-77-1", "source": "203.0.113.9/32"}]),
                "",
            ),
            (lambda a: a[4] == "list", 1, "", "ERROR: (AuthorizationFailed) read"),
            (lambda a: a[2] == "run-command", 0, _ok_run_command('{"nftables": []}\nLOSTOPS_JIT_OK'), ""),
        ]
    )
    assert jit.do_check(r, _targets()) == 1
    out = capsys.readouterr().out
    assert "- NSG `lostops-backend-nsg` still has rule `lostops-jit-ssh-77-1` (source `203.0.113.9/32`)" in out
    assert "- could not check: monitoring: NSG rule list failed: ERROR: (AuthorizationFailed) read" in out


@pytest.mark.parametrize(
    "action, ip, ttl, expected",
    [
        ("open", "198.51.100.7", "30m", "nft add element inet lostops jit_ssh '{ 198.51.100.7 timeout 30m }'"),
        ("open", "198.51.100.7", "30m", "flags timeout"),  # bootstrap when the set predates the template
        ("close", "198.51.100.7", None, "nft delete element inet lostops jit_ssh '{ 198.51.100.7 }'"),
        ("check", None, None, "nft -j list set inet lostops jit_ssh"),
        ("serving-version", None, None, "cat /var/lib/lostops/app/deployed-version"),
    ],
)
def test_jit_host_scripts(action, ip, ttl, expected):
    script = jit.host_script(action, ip, ttl or "30m")
    assert expected in script
    assert script.endswith("echo LOSTOPS_JIT_OK")


def test_jit_host_command_azure_run_command_and_exec_template(monkeypatch):
    t = _target()
    cmd = jit.host_command("azure", t, "echo hi")
    assert cmd[:4] == ["az", "vm", "run-command", "invoke"]
    assert dict(zip(cmd[4::2], cmd[5::2], strict=False))["--scripts"] == "echo hi"
    monkeypatch.setenv("LOSTOPS_JIT_EXEC", ".venv/bin/python -m tests.lab.labctl exec {host} --")
    assert jit.host_command("exec", t, "echo hi") == [
        ".venv/bin/python",
        "-m",
        "tests.lab.labctl",
        "exec",
        "backend",
        "--",
        "echo hi",
    ]
    monkeypatch.setenv("LOSTOPS_JIT_EXEC", "nsenter -t 1 -n -- sh -c {script}")
    assert jit.host_command("exec", t, "echo hi")[-1] == "echo hi"
    monkeypatch.delenv("LOSTOPS_JIT_EXEC")
    with pytest.raises(jit.JitError, match="LOSTOPS_JIT_EXEC"):
        jit.host_command("exec", t, "echo hi")


@pytest.mark.parametrize(
    "message, stdout",
    [
        ("Enable succeeded: \n[stdout]\n1.4.2\nLOSTOPS_JIT_OK\n\n[stderr]\n", "1.4.2\nLOSTOPS_JIT_OK\n"),
        ("Enable succeeded: \n[stdout]\n\n[stderr]\nnft: No such file\n", ""),
    ],
)
def test_jit_parse_run_command(message, stdout):
    out = json.dumps({"value": [{"code": "ProvisioningState/succeeded", "message": message}]})
    assert jit.parse_run_command(out)[0] == stdout


@pytest.mark.parametrize(
    "listing, expected",
    [
        ('{"nftables": []}', []),
        ('{"nftables": [{"metainfo": {}}, {"set": {"name": "jit_ssh"}}]}', []),
        (
            '{"nftables": [{"set": {"name": "jit_ssh", "elem": [{"elem": {"val": "198.51.100.7", "timeout": 1800, '
            '"expires": 1700}}, "203.0.113.5"]}}]}\nLOSTOPS_JIT_OK',
            ["198.51.100.7", "203.0.113.5"],
        ),
    ],
)
def test_jit_parse_set_elements(listing, expected):
    assert jit.parse_set_elements(listing) == expected


def test_jit_open_dry_run_names_every_step(tmp_path):
    result = run("jit-access", "open", "--ip", "198.51.100.7", "--dry-run", env={"LOSTOPS_INVENTORY": "example"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("would run: az network nsg rule create") for line in lines) == 2
    assert sum(line.startswith("would run: az vm run-command invoke") for line in lines) == 2
    assert "jit open: backend firewall set jit_ssh has 198.51.100.7 for 30m" in lines
    bad = run("jit-access", "open", "--ip", "198.51.100.0/24", "--dry-run")
    assert bad.returncode == 1 and "not an IPv4 address" in bad.stderr


def test_jit_exec_channel_runs_the_host_script_locally_and_check_reports_leftovers(tmp_path):
    # A fake host: the exec template runs a shell in which `nft` is a stub
    # printing a set with one element.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nft").write_text(
        "#!/bin/sh\n"
        'echo \'{"nftables": [{"set": {"name": "jit_ssh", "elem": [{"elem": {"val": "198.51.100.7", "timeout": 1800}}]}}]}\'\n'
    )
    (fake / "nft").chmod(0o755)
    env = {
        "LOSTOPS_INVENTORY": "example",
        "LOSTOPS_JIT_CHANNEL": "exec",
        "LOSTOPS_JIT_EXEC": f"env PATH={fake}:/usr/bin:/bin sh -c {{script}}",
    }
    check = run("jit-access", "check", env=env)
    assert check.returncode == 1, check.stderr
    assert "host `backend`: nftables set `jit_ssh` still has `198.51.100.7`" in check.stdout
    assert "NSG" not in check.stdout.split("\n", 2)[2]  # exec channel: no NSG in the lab
    opened = run("jit-access", "open", "--ip", "198.51.100.7", "--ttl", "2s", env=env)
    assert opened.returncode == 0, opened.stderr
    assert "jit open: backend: NSG step skipped (channel exec: no NSG)" in opened.stdout


# --- drift-summary --no-comments ------------------------------------------------------------


def test_drift_summary_no_comments_keeps_container_logs_out(tmp_path):
    doc = {
        "backend": {
            "cmd_|-app-rollout-deploy-run_|-x_|-run": {
                "result": False,
                "comment": "container log: SECRET-LOOKING-LINE",
                "changes": {},
            }
        }
    }
    path = tmp_path / "salt.json"
    path.write_text(json.dumps(doc))
    with_comments = run("drift-summary", "--mode", "apply", str(path))
    without = run("drift-summary", "--mode", "apply", "--no-comments", str(path))
    assert "SECRET-LOOKING-LINE" in with_comments.stdout
    assert "SECRET-LOOKING-LINE" not in without.stdout
    assert "app-rollout-deploy-run" in without.stdout
    assert without.returncode == 1


def test_rollout_pillar_makes_the_backend_run_the_scanned_digest():
    # Salt's own render (salt-call state.show_sls app with the CLI pillar the
    # roll-out passes): images:app:digest merges with pillar/images.sls.
    from tests.unit.saltcall import show_sls

    pillar = json.dumps(release.pillar("1.4.2", DIGEST))
    text = json.dumps(show_sls("backend", "app", pillar=pillar))
    assert f"ghcr.io/lostops-stg5/lostops-app:1.4.2@{DIGEST}" in text
