"""Tests of `lostops version check`, `lostops summary trivy` and `lostops summary drift`.

Each command runs in-process (click's CliRunner, tests/unit/clirun.py) with
the arguments the workflows and make targets give it.
"""

import json

import pytest

from tests.unit import clirun

COMMANDS = {
    "check-version": ("version", "check"),
    "trivy-summary": ("summary", "trivy"),
    "drift-summary": ("summary", "drift"),
}


def run(command: str, *args: str, stdin: str | None = None, env: dict | None = None):
    return clirun.run(*COMMANDS[command], *args, stdin=stdin, env=env, unset=("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: lostops {' '.join(COMMANDS[command])} ")


# --- check-version --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, normalized",
    [
        ("1.2.3", "1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("0.0.0", "0.0.0"),
        ("10.20.30", "10.20.30"),
    ],
)
def test_check_version_accepts(raw, normalized):
    result = run("check-version", raw)
    assert result.returncode == 0, result.stderr
    assert result.stdout == normalized + "\n"
    assert result.stderr == ""


@pytest.mark.parametrize(
    "raw, message",
    [
        ("1.2", "has 2 part(s), not 3"),
        ("1.2.3.4", "has 4 part(s), not 3"),
        ("01.2.3", "has a leading zero in '01'"),
        ("1.2.3-rc1", "has a pre-release or build suffix"),
        ("", "version is empty"),
        ("v", "has 1 part(s), not 3"),
        ("vv1.2.3", "has a non-numeric part 'v1'"),
        ("1.2.x", "has a non-numeric part 'x'"),
        ("1.2.3+build", "has a pre-release or build suffix"),
        (" 1.2.3", "surrounding whitespace"),
        ("1.2.3\nversion=6.6.6", "has 5 part(s), not 3"),  # no output injection
    ],
)
def test_check_version_rejects(raw, message, tmp_path):
    output = tmp_path / "github_output"
    result = run("check-version", raw, env={"GITHUB_OUTPUT": str(output)})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("check-version: ")
    assert message in lines[0]
    assert "expected Major.Minor.Revision" in lines[0]
    assert not output.exists()


def test_check_version_writes_github_output(tmp_path):
    output = tmp_path / "github_output"
    output.write_text("other=1\n")
    result = run("check-version", "v2.10.0", env={"GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0
    assert output.read_text() == "other=1\nversion=2.10.0\n"


def test_check_version_usage():
    result = run("check-version")
    assert result.returncode == 2
    assert "usage" in result.stderr


# --- trivy-summary --------------------------------------------------------------


def _vuln(vid, pkg, severity, installed="1.0", fixed="1.1", title="a problem"):
    return {
        "VulnerabilityID": vid,
        "PkgID": f"{pkg}@{installed}",
        "PkgName": pkg,
        "PkgIdentifier": {"PURL": f"pkg:deb/debian/{pkg}@{installed}"},
        "InstalledVersion": installed,
        "FixedVersion": fixed,
        "Status": "fixed" if fixed else "affected",
        "Layer": {"DiffID": "sha256:" + "a" * 64},
        "SeveritySource": "debian",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
        "DataSource": {"ID": "debian", "Name": "Debian Security Tracker"},
        "Title": title,
        "Severity": severity,
    }


TRIVY_REPORT = {
    "SchemaVersion": 2,
    "CreatedAt": "2026-08-20T10:00:00.000000000Z",
    "ArtifactName": "ghcr.io/lostops-stg5/lostops-app@sha256:" + "b" * 64,
    "ArtifactType": "container_image",
    "Metadata": {
        "OS": {"Family": "debian", "Name": "12.8"},
        "ImageID": "sha256:" + "c" * 64,
    },
    "Results": [
        {
            "Target": "ghcr.io/lostops-stg5/lostops-app (debian 12.8)",
            "Class": "os-pkgs",
            "Type": "debian",
            "Vulnerabilities": [
                _vuln("CVE-2026-0001", "openssl", "CRITICAL", title="RCE | in TLS"),
                _vuln("CVE-2026-0002", "libxml2", "HIGH", fixed=""),
                _vuln("CVE-2026-0003", "zlib1g", "HIGH"),
            ],
        },
        {
            "Target": "var/www/html/composer.lock",
            "Class": "lang-pkgs",
            "Type": "composer",
            "Vulnerabilities": [
                _vuln("CVE-2026-0004", "guzzlehttp/psr7", "HIGH"),
                _vuln("CVE-2026-0005", "symfony/http-kernel", "MEDIUM"),
            ],
        },
        {"Target": "usr/local/bin/composer", "Class": "lang-pkgs", "Type": "jar"},
        {
            "Target": "Node.js",
            "Class": "lang-pkgs",
            "Type": "node-pkg",
            "Vulnerabilities": None,
        },
    ],
}


def test_trivy_summary_counts_high_and_critical(tmp_path):
    report = tmp_path / "trivy-report.json"
    report.write_text(json.dumps(TRIVY_REPORT))
    output = tmp_path / "github_output"
    result = run(
        "trivy-summary",
        "--image",
        "ghcr.io/x/y@sha256:abc",
        str(report),
        env={"GITHUB_OUTPUT": str(output)},
    )
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert "## Trivy scan: `ghcr.io/x/y@sha256:abc`" in md
    assert "| CRITICAL | 1 |" in md
    assert "| HIGH | 3 |" in md
    assert "CVE-2026-0005" not in md  # MEDIUM is not listed
    assert md.index("CVE-2026-0001") < md.index("CVE-2026-0002")  # CRITICAL first
    assert "RCE \\| in TLS" in md  # pipes escaped inside table cells
    assert output.read_text() == "high=3\ncritical=1\n"


def test_trivy_summary_clean_report(tmp_path):
    clean = dict(
        TRIVY_REPORT,
        Results=[{"Target": "x (debian 12.8)", "Class": "os-pkgs", "Type": "debian"}],
    )
    report = tmp_path / "r.json"
    report.write_text(json.dumps(clean))
    result = run("trivy-summary", str(report))
    assert result.returncode == 0
    assert "| CRITICAL | 0 |" in result.stdout and "| HIGH | 0 |" in result.stdout
    assert "No HIGH or CRITICAL vulnerabilities found." in result.stdout
    assert TRIVY_REPORT["ArtifactName"] in result.stdout


def test_trivy_summary_limits_rows(tmp_path):
    many = dict(
        TRIVY_REPORT,
        Results=[
            {
                "Target": "t",
                "Vulnerabilities": [_vuln(f"CVE-2026-{n:04d}", f"pkg{n}", "HIGH") for n in range(10)],
            }
        ],
    )
    report = tmp_path / "r.json"
    report.write_text(json.dumps(many))
    result = run("trivy-summary", "--max-rows", "3", str(report))
    assert "| HIGH | 10 |" in result.stdout
    assert "... and 7 more" in result.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ('{"SchemaVersion": 2}', "has no 'Results' key"),
    ],
)
def test_trivy_summary_bad_report(tmp_path, content, message):
    report = tmp_path / "r.json"
    if content is not None:
        report.write_text(content)
    result = run("trivy-summary", str(report))
    assert result.returncode == 1
    assert "No usable Trivy report" in result.stdout
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1


# --- drift-summary --------------------------------------------------------------


def state(sid, fun, name, result, comment, changes=None, run_num=0, sls="app"):
    mod, func = fun.split(".")
    key = f"{mod}_|-{sid}_|-{name}_|-{func}"
    return key, {
        "name": name,
        "changes": changes or {},
        "result": result,
        "comment": comment,
        "__sls__": sls,
        "__run_num__": run_num,
        "start_time": "05:23:01.000000",
        "duration": 3.2,
        "__id__": sid,
    }


def minion_doc(minion, *states):
    return json.dumps({minion: dict(states)}, indent=4)


CLEAN_BACKEND = minion_doc(
    "backend",
    state(
        "app-config-file-managed",
        "file.managed",
        "/etc/lostops/app/app.env",
        True,
        "The file /etc/lostops/app/app.env is in the correct state",
        run_num=0,
    ),
    state(
        "docker-service-running",
        "service.running",
        "docker",
        True,
        "The service docker is already running",
        run_num=1,
    ),
)
CLEAN_DATABASE = minion_doc(
    "database",
    state(
        "mysql-config-file-managed",
        "file.managed",
        "/etc/lostops/mysql/my.cnf",
        True,
        "The file /etc/lostops/mysql/my.cnf is in the correct state",
    ),
)
DRIFT_MONITORING = minion_doc(
    "monitoring",
    state(
        "prometheus-config-file-managed",
        "file.managed",
        "/etc/lostops/prometheus/prometheus.yml",
        None,
        "The file /etc/lostops/prometheus/prometheus.yml is set to be changed\n"
        "Note: No changes made, actual changes may\nbe different due to other states.",
        changes={"diff": "-  scrape_interval: 15s\n+  scrape_interval: 30s SECRET-DIFF"},
        run_num=0,
    ),
    state(
        "grafana-service-running",
        "service.running",
        "grafana",
        True,
        "The service grafana is already running",
        run_num=1,
    ),
)
FAILED_BACKEND = minion_doc(
    "backend",
    state(
        "app-container-rollout",
        "cmd.run",
        "/usr/local/sbin/lostops-app-rollout 1.4.2",
        False,
        'Command "/usr/local/sbin/lostops-app-rollout 1.4.2" run\n'
        "new container lostops-app-1.4.2 failed its health check; "
        "the previous version keeps serving",
        changes={"pid": 4242, "retcode": 1, "stdout": "", "stderr": "unhealthy"},
        run_num=3,
    ),
    state(
        "app-config-file-managed",
        "file.managed",
        "/etc/lostops/app/app.env",
        True,
        "File /etc/lostops/app/app.env updated",
        changes={"diff": "-APP_VERSION=1.4.1\n+APP_VERSION=1.4.2"},
        run_num=1,
    ),
)
UNREACHABLE_DATABASE = json.dumps(
    {
        "database": {
            "stdout": "",
            "stderr": "ssh: connect to host 198.51.100.12 port 22: Connection timed out",
            "retcode": 255,
        }
    },
    indent=4,
)
RENDER_ERROR_DATABASE = json.dumps(
    {"database": ["Rendering SLS 'base:mysql' failed: Jinja variable 'dict object' has no attribute 'x'"]},
    indent=4,
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# drift-summary over salt-ssh's JSON: (case, salt-ssh output, extra args, exit code, in the report, never in it)
DRIFT_CASES = [
    (
        "clean",
        CLEAN_BACKEND + "\n" + CLEAN_DATABASE + "\n",
        [],
        0,
        ["## Drift report", "| backend | 2 | 0 | 0 |", "| database | 1 | 0 | 0 |", "No drift."],
        [],
    ),
    (
        "pending changes",
        CLEAN_BACKEND + DRIFT_MONITORING,
        ["--mode", "test"],
        1,
        [
            "| monitoring | 2 | 0 | 1 |",
            "#### Drift (would change)",
            "`monitoring` prometheus-config-file-managed (file.managed /etc/lostops/prometheus/prometheus.yml)",
            "is set to be changed Note: No changes made",
        ],
        ["SECRET-DIFF"],  # the changes themselves are never printed
    ),
    (
        "true with changes is drift",
        minion_doc("backend", state("x", "cmd.run", "x", True, "would run", changes={"retcode": 0})),
        [],
        1,
        ["| backend | 1 | 0 | 1 |"],
        [],
    ),
    (
        "unreachable minion",
        CLEAN_BACKEND + UNREACHABLE_DATABASE,
        [],
        1,
        ["| database | error | - | - |", "Connection timed out"],
        [],
    ),
    ("render error", RENDER_ERROR_DATABASE, [], 1, ["Rendering SLS 'base:mysql' failed"], []),
    (
        "stray non-JSON line",
        "[WARNING ] a stray warning\n" + CLEAN_BACKEND + "\n",
        [],
        0,
        ["1 line(s) of salt-ssh output were not JSON"],
        [],
    ),
    (
        "apply mode lists failed state comments",
        FAILED_BACKEND + CLEAN_DATABASE,
        ["--mode", "apply"],
        1,
        [
            "## Salt apply result",
            "| backend | 2 | 1 | 1 |",
            "#### Failed states",
            "failed its health check; the previous version keeps serving",
        ],
        ["APP_VERSION=1.4.2"],
    ),
    (
        "apply mode changes are not failures",
        minion_doc(
            "backend",
            state(
                "app-config-file-managed", "file.managed", "/etc/lostops/app/app.env", True, "updated", {"diff": "x"}
            ),
        ),
        ["--mode", "apply"],
        0,
        ["All states succeeded (1 changed)."],
        [],
    ),
]


@pytest.mark.parametrize(
    ("salt", "args", "code", "present", "absent"), [c[1:] for c in DRIFT_CASES], ids=[c[0] for c in DRIFT_CASES]
)
def test_drift_summary(tmp_path, salt, args, code, present, absent):
    result = run("drift-summary", *args, write(tmp_path, "salt.json", salt))
    assert result.returncode == code, result.stdout + result.stderr
    for text in present:
        assert text in result.stdout, text
    for text in absent:
        assert text not in result.stdout, text


def test_drift_summary_stdin_and_empty(tmp_path):
    result = run("drift-summary", "-", stdin=CLEAN_DATABASE)
    assert result.returncode == 0
    result = run("drift-summary", "-", stdin="")
    assert result.returncode == 1
    assert "salt-ssh printed nothing" in result.stdout
    result = run("drift-summary", str(tmp_path / "missing.json"))
    assert result.returncode == 1
    assert "cannot read" in result.stdout


CDKTF_NO_CHANGES = """network  Initializing the backend...
network  \x1b[1m\x1b[32mNo changes.\x1b[0m\x1b[1m Your infrastructure matches the configuration.\x1b[0m
"""
CDKTF_CHANGES = """network  # azurerm_network_security_rule.backend-ssh will be updated in-place
network    ~ source_address_prefixes = [
network        + "192.0.2.77/32",
network      ]
network  \x1b[1mPlan:\x1b[0m 0 to add, 1 to change, 0 to destroy.
"""


@pytest.mark.parametrize(
    "log, code, text",
    [
        (CDKTF_NO_CHANGES, 0, "No drift: No changes."),
        (CDKTF_CHANGES, 1, "**Drift:** Plan: 0 to add, 1 to change, 0 to destroy"),
        (
            "network  Error: building AzureRM Client: obtain subscription\n",
            1,
            "**Error:** no plan result found",
        ),
    ],
)
def test_cdktf_diff_parsing(tmp_path, log, code, text):
    diff = write(tmp_path, "diff.log", log)
    result = run("drift-summary", "--cdktf-diff", diff)
    assert result.returncode == code, result.stdout
    assert text in result.stdout


def test_cdktf_diff_and_salt_together(tmp_path):
    diff = write(tmp_path, "diff.log", CDKTF_NO_CHANGES)
    salt = write(tmp_path, "s.json", CLEAN_BACKEND)
    result = run("drift-summary", "--cdktf-diff", diff, salt)
    assert result.returncode == 0
    assert "### Infrastructure (cdktf diff)" in result.stdout
    assert "### Hosts (salt-ssh state.apply test=True)" in result.stdout


def test_drift_summary_needs_an_input():
    result = run("drift-summary")
    assert result.returncode == 2
