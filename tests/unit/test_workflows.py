"""Static checks of the GitHub Actions workflows in .github/workflows.

Runs the real zizmor (offline) and check-jsonschema (builtin, vendored
GitHub workflow schema) and checks the release job graph with plain pytest.
No network.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yml")) + sorted(WORKFLOWS_DIR.glob("*.yaml"))
SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def tool(name: str) -> str:
    """Find a dev tool: the project venv first, then this interpreter's bin, then PATH."""
    search = os.pathsep.join(
        [
            str(REPO / ".venv" / "bin"),
            str(Path(sys.executable).parent),
            os.environ.get("PATH", ""),
        ]
    )
    found = shutil.which(name, path=search)
    if not found:
        pytest.fail(
            f"{name} not found in .venv/bin or on PATH; install the dev packages (pipenv install --dev)",
            pytrace=False,
        )
    return found


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict]:
    return {p.name: load(p) for p in WORKFLOW_FILES}


@pytest.fixture(scope="module")
def release(workflows) -> dict:
    return workflows["release.yml"]


def steps_of(job: dict) -> list[dict]:
    return job.get("steps") or []


def step_index(steps: list[dict], predicate) -> int:
    for n, step in enumerate(steps):
        if predicate(step):
            return n
    raise AssertionError("no such step")


def uses(step: dict, action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0].lower() == action.lower()


def all_steps(workflows):
    for name, wf in workflows.items():
        for job_id, job in (wf.get("jobs") or {}).items():
            for step in steps_of(job):
                yield name, job_id, step


def test_expected_workflows_exist():
    names = {p.name for p in WORKFLOW_FILES}
    assert {"ci.yml", "app-ci.yml", "release.yml", "drift.yml"} <= names


# --- external linters ---------------------------------------------------------


def test_zizmor_offline_has_no_findings():
    result = subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--format",
            "json",
            "--quiet",
            str(REPO / ".github"),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    try:
        findings = json.loads(result.stdout or "null")
    except json.JSONDecodeError:
        pytest.fail(f"zizmor did not print JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    assert findings == [], json.dumps(findings, indent=2)[:4000]
    assert result.returncode == 0, result.stderr


def test_check_jsonschema_builtin_github_workflows_schema():
    result = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOW_FILES),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- rules for every workflow -----------------------------------------------


def test_every_uses_is_pinned_to_a_full_sha_with_version_comment():
    bad = []
    for path in WORKFLOW_FILES:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = USES_LINE.match(line)
            if not m:
                continue
            ref, rest = m.group("ref"), m.group("rest")
            if not SHA_PIN.match(ref):
                bad.append(f"{path.name}:{lineno}: {ref} is not pinned to a 40-hex commit SHA")
            elif not re.match(r"^\s+#\s*v?\d+\.\d+\.\d+", rest):
                bad.append(f"{path.name}:{lineno}: {ref} has no '# vX.Y.Z' version comment")
    assert not bad, "\n".join(bad)


def test_every_step_uses_is_pinned_in_parsed_yaml(workflows):
    for name, job_id, step in all_steps(workflows):
        if "uses" in step:
            assert SHA_PIN.match(step["uses"]), f"{name}/{job_id}: {step['uses']}"


def test_no_event_or_inputs_expression_inside_run(workflows):
    bad = []
    for name, job_id, step in all_steps(workflows):
        for expr in EXPR.findall(str(step.get("run", ""))):
            if re.search(r"\b(github\.event|inputs)\b", expr):
                bad.append(f"{name}/{job_id}/{step.get('name', step['run'][:40])}: ${{{{{expr}}}}}")
    assert not bad, "\n".join(bad)


def test_no_expression_at_all_inside_run(workflows):
    # Stricter than the rule: every value reaches a script through env:.
    bad = [
        f"{name}/{job_id}/{step.get('name')}"
        for name, job_id, step in all_steps(workflows)
        if "${{" in str(step.get("run", ""))
    ]
    assert not bad, bad


def test_top_level_permissions_empty_and_every_job_declares_its_own(workflows):
    for name, wf in workflows.items():
        assert wf.get("permissions") == {}, f"{name}: top-level permissions must be {{}}"
        for job_id, job in wf["jobs"].items():
            assert "permissions" in job, f"{name}/{job_id} has no permissions"
            perms = job["permissions"]
            assert isinstance(perms, dict), f"{name}/{job_id}: permissions must be a mapping"
            assert "write-all" not in str(perms)


def test_checkout_never_persists_credentials(workflows):
    checkouts = [(n, j, s) for n, j, s in all_steps(workflows) if uses(s, "actions/checkout")]
    assert checkouts
    for name, job_id, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{name}/{job_id}"


def test_trivy_action_is_pinned_to_a_release_not_master(release):
    for step in steps_of(release["jobs"]["scan"]):
        if uses(step, "aquasecurity/trivy-action"):
            assert "master" not in step["uses"]
            assert SHA_PIN.match(step["uses"])


# --- ci.yml ---------------------------------------------------------------------


def test_ci_triggers_and_make_targets(workflows):
    ci = workflows["ci.yml"]
    assert "pull_request" in ci["on"]
    assert ci["on"]["push"]["branches"] == ["main"]
    runs = {job_id: " ".join(str(s.get("run", "")) for s in steps_of(job)) for job_id, job in ci["jobs"].items()}
    assert "make lint" in runs["lint"]
    assert "make test-unit" in runs["unit"]
    assert "make e2e" in runs["e2e"]


def test_ci_caches_pipenv_venv_and_npm(workflows):
    for job_id, job in workflows["ci.yml"]["jobs"].items():
        steps = steps_of(job)
        assert any(
            uses(s, "actions/cache") and s["with"]["path"] == ".venv" and "Pipfile.lock" in s["with"]["key"]
            for s in steps
        ), job_id
        assert any(uses(s, "actions/setup-node") and s["with"].get("cache") == "npm" for s in steps), job_id


# --- app-ci.yml -----------------------------------------------------------------


def test_app_ci_is_reusable_with_mysql_service_and_laravel_steps(workflows):
    app = workflows["app-ci.yml"]
    assert list(app["on"]) == ["workflow_call"]
    job = app["jobs"]["test"]
    assert re.fullmatch(r"php:\d+\.\d+\.\d+-cli-\w+", job["container"]["image"])
    assert re.fullmatch(r"mysql:8\.0\.\d+", job["services"]["mysql"]["image"])
    runs = [str(s.get("run", "")) for s in steps_of(job)]
    text = "\n".join(runs)
    assert "composer install" in text
    assert "php artisan migrate --force" in text
    assert "php artisan test" in text
    order = [
        next(n for n, r in enumerate(runs) if needle in r)
        for needle in ("composer install", "artisan migrate", "artisan test")
    ]
    assert order == sorted(order)


def test_app_ci_uses_no_secrets(workflows):
    assert "secrets." not in (WORKFLOWS_DIR / "app-ci.yml").read_text(encoding="utf-8")


# --- release.yml ----------------------------------------------------------------


def test_release_triggers(release):
    on = release["on"]
    assert on["release"]["types"] == ["published"]
    assert on["workflow_dispatch"]["inputs"]["version"]["required"] is True
    assert on["workflow_call"]["inputs"]["version"]["required"] is True


def test_version_checked_by_script(release):
    runs = " ".join(str(s.get("run", "")) for s in steps_of(release["jobs"]["prepare"]))
    assert "scripts/check-version" in runs


def test_deploy_needs_build(release):
    needs = release["jobs"]["deploy"]["needs"]
    assert "build" in needs


def test_deploy_runs_after_scan_whatever_its_outcome(release):
    deploy = release["jobs"]["deploy"]
    assert "scan" in deploy["needs"]
    condition = " ".join(str(deploy["if"]).split())
    assert "!cancelled()" in condition
    assert "needs.build.result == 'success'" in condition
    assert "needs.scan.result" not in condition


def test_scan_needs_build(release):
    assert "build" in release["jobs"]["scan"]["needs"]


def test_scan_trivy_step_is_continue_on_error(release):
    trivy = [s for s in steps_of(release["jobs"]["scan"]) if uses(s, "aquasecurity/trivy-action")]
    assert trivy
    first = trivy[0]
    assert first["continue-on-error"] is True
    assert first["with"]["severity"] == "HIGH,CRITICAL"
    assert first["with"]["format"] == "json"
    assert str(first["with"]["exit-code"]) == "1"


def test_scan_uploads_json_and_table_and_writes_counts(release):
    steps = steps_of(release["jobs"]["scan"])
    outputs = {s["with"]["output"] for s in steps if uses(s, "aquasecurity/trivy-action")}
    assert outputs == {"trivy-report.json", "trivy-report.txt"}
    upload = [s for s in steps if uses(s, "actions/upload-artifact")]
    assert upload and all(f in upload[0]["with"]["path"] for f in outputs)
    runs = " ".join(str(s.get("run", "")) for s in steps)
    assert "scripts/trivy-summary" in runs and "GITHUB_STEP_SUMMARY" in runs


def test_build_pushes_both_tags(release):
    steps = steps_of(release["jobs"]["build"])
    meta = next(s for s in steps if uses(s, "docker/metadata-action"))
    tags = [t.strip() for t in meta["with"]["tags"].splitlines() if t.strip()]
    assert "type=raw,value=${{ needs.prepare.outputs.version }}" in tags
    assert "type=raw,value=latest" in tags
    push = next(s for s in steps if uses(s, "docker/build-push-action"))
    assert push["with"]["push"] is True
    assert push["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
    assert push["with"]["labels"] == "${{ steps.meta.outputs.labels }}"
    assert "provenance" in push["with"]


def test_build_has_no_build_args_or_secrets(release):
    push = next(s for s in steps_of(release["jobs"]["build"]) if uses(s, "docker/build-push-action"))
    assert not {"build-args", "secrets", "secret-files", "secret-envs"} & set(push["with"])


def test_build_permissions_packages_write(release):
    assert release["jobs"]["build"]["permissions"] == {
        "contents": "read",
        "packages": "write",
    }


def test_deploy_concurrency_group_is_set(release):
    concurrency = release["jobs"]["deploy"]["concurrency"]
    assert concurrency["group"]
    assert concurrency["cancel-in-progress"] is False


def test_deploy_environment_and_oidc(release):
    deploy = release["jobs"]["deploy"]
    assert deploy["environment"] == "production"
    assert deploy["permissions"]["id-token"] == "write"
    login = next(s for s in steps_of(deploy) if uses(s, "azure/login"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert deploy["env"]["ARM_USE_OIDC"] == "true"
    assert "ARM_CLIENT_SECRET" not in deploy["env"]


def _is_cdktf_deploy(step):
    return "cdktf deploy network --auto-approve" in str(step.get("run", ""))


def test_deploy_always_cleanup_step_exists(release):
    steps = steps_of(release["jobs"]["deploy"])
    close = [s for s in steps if _is_cdktf_deploy(s) and "always()" in str(s.get("if", ""))]
    assert len(close) == 1
    assert "LOSTOPS_EXTRA_ADMIN_SOURCES" not in (close[0].get("env") or {})
    assert "unset LOSTOPS_EXTRA_ADMIN_SOURCES" in close[0]["run"]


def test_deploy_steps_in_order(release):
    steps = steps_of(release["jobs"]["deploy"])
    ip = step_index(steps, lambda s: "api.ipify.org" in str(s.get("run", "")))
    open_ssh = step_index(
        steps,
        lambda s: _is_cdktf_deploy(s) and "LOSTOPS_EXTRA_ADMIN_SOURCES" in (s.get("env") or {}),
    )
    secrets = step_index(steps, lambda s: "scripts/write-secrets" in str(s.get("run", "")))
    key = step_index(steps, lambda s: "SSH_PRIVATE_KEY" in (s.get("env") or {}))
    salt = step_index(steps, lambda s: "salt-ssh --out=json '*' state.apply" in str(s.get("run", "")))
    close = step_index(steps, lambda s: _is_cdktf_deploy(s) and "always()" in str(s.get("if", "")))
    assert ip < open_ssh < secrets < key < salt < close
    assert steps[open_ssh]["env"]["LOSTOPS_EXTRA_ADMIN_SOURCES"] == "${{ steps.runner-ip.outputs.cidr }}"


def test_deploy_salt_passes_version_as_json_pillar(release):
    salt = next(s for s in steps_of(release["jobs"]["deploy"]) if s.get("id") == "salt")
    assert 'jq -cn --arg version "$APP_VERSION"' in salt["run"]
    assert "pipenv run salt-ssh" in salt["run"]
    assert 'pillar="$pillar"' in salt["run"]
    assert "scripts/drift-summary --mode apply" in salt["run"]
    assert salt["env"]["LOSTOPS_SSH_KEY"].startswith("${{ runner.temp }}/")


def test_deploy_secrets_only_through_env(release):
    steps = steps_of(release["jobs"]["deploy"])
    write = next(s for s in steps if "scripts/write-secrets" in str(s.get("run", "")))
    for key in (
        "MYSQL_ROOT_PASSWORD",
        "MYSQL_APP_PASSWORD",
        "MYSQL_EXPORTER_PASSWORD",
        "APP_KEY",
        "GRAFANA_ADMIN_PASSWORD",
        "DISCORD_WEBHOOK_URL",
        "PROMETHEUS_BASIC_AUTH",
        "REGISTRY_PASSWORD",
    ):
        name = f"LOSTOPS_SECRET_{key}"
        assert write["env"][name] == f"${{{{ secrets.{name} }}}}"
    text = (WORKFLOWS_DIR / "release.yml").read_text(encoding="utf-8")
    assert "set -x" not in text


# --- drift.yml ------------------------------------------------------------------


def test_drift_schedule_and_steps(workflows):
    drift = workflows["drift.yml"]
    assert drift["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in drift["on"]
    job = drift["jobs"]["drift"]
    runs = [str(s.get("run", "")) for s in steps_of(job)]
    text = "\n".join(runs)
    assert "cdktf diff network" in text
    assert "state.apply test=True" in text
    assert "scripts/drift-summary" in text and "GITHUB_STEP_SUMMARY" in text
    assert any(_is_cdktf_deploy(s) and "always()" in str(s.get("if", "")) for s in steps_of(job))
    assert job["concurrency"]["group"] == workflows["release.yml"]["jobs"]["deploy"]["concurrency"]["group"]
