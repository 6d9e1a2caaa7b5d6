"""Static checks of the GitHub Actions workflows in .github/workflows.

Runs the real actionlint (which knows which contexts each workflow key may
use: the check GitHub itself makes before any job starts), zizmor (offline)
and check-jsonschema (builtin, vendored GitHub workflow schema), and checks
the release job graph with plain pytest. No network.
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


def _actionlint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            tool("actionlint"),
            "-no-color",
            "-format",
            "{{range $err := .}}{{$err.Filepath}}:{{$err.Line}}: {{$err.Message}} [{{$err.Kind}}]\n{{end}}",
            *map(str, paths),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_actionlint_reports_nothing_on_every_workflow():
    result = _actionlint(*WORKFLOW_FILES)
    assert result.stdout.strip() == "" and result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "mutation, expected",
    [
        # what GitHub rejected before any job started: runner context in a job-level env
        (
            lambda t: t.replace(
                "      LOSTOPS_INVENTORY: ${{ vars.LOSTOPS_INVENTORY || 'production' }}\n      APP_VERSION:",
                "      LOSTOPS_INVENTORY: ${{ vars.LOSTOPS_INVENTORY || 'production' }}\n"
                "      LOSTOPS_SSH_KEY: ${{ runner.temp }}/k\n      APP_VERSION:",
                1,
            ),
            'context "runner" is not allowed here',
        ),
        # an undocumented property of the github context
        (
            lambda t: t.replace(
                "INFRA_REF: ${{ inputs.infra-repository && inputs.infra-ref || github.sha }}",
                "INFRA_REF: ${{ inputs.infra-ref || github.job_workflow_sha }}",
                1,
            ),
            'property "job_workflow_sha" is not defined',
        ),
    ],
    ids=["runner-in-job-env", "job-workflow-sha"],
)
def test_actionlint_catches_the_defects_github_refuses(tmp_path, mutation, expected):
    """The check is real: the two defects that made GitHub refuse the file are reported."""
    text = (WORKFLOWS_DIR / "release.yml").read_text(encoding="utf-8")
    bad = mutation(text)
    assert bad != text, "the mutation did not apply: update the test with the file"
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    path = tmp_path / ".github" / "workflows" / "release.yml"
    path.write_text(bad, encoding="utf-8")
    result = _actionlint(path)
    assert result.returncode == 1 and expected in result.stdout, result.stdout + result.stderr


def test_no_runner_context_in_workflow_or_job_env(workflows):
    """runner is available in step env, not in workflow- or job-level env (GitHub rejects the file)."""
    for name, wf in workflows.items():
        assert "runner." not in json.dumps(wf.get("env") or {}), name
        for job_id, job in wf["jobs"].items():
            assert "runner." not in json.dumps(job.get("env") or {}), f"{name}/{job_id}"


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


def _runs(job: dict) -> list[str]:
    return [str(s.get("run", "")) for s in steps_of(job)]


@pytest.mark.parametrize("job_id, target", [("unit", "make test-unit"), ("e2e", "make e2e")])
def test_ci_test_jobs_install_what_ci_run_installs_then_run_as_root(workflows, job_id, target):
    # .ci/run is `make test` as root: `make deps-system` (Debian packages:
    # promtool, amtool, nft, systemd-container, debootstrap, ...), then the tier.
    runs = _runs(workflows["ci.yml"]["jobs"][job_id])
    deps = next(n for n, r in enumerate(runs) if "make deps-system" in r)
    tier = next(n for n, r in enumerate(runs) if target in r)
    assert deps < tier
    assert runs[deps].startswith("sudo ") and runs[tier].startswith("sudo ")
    assert not any("apt-get install" in r for r in runs), "install through make deps-system only"


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
    assert re.fullmatch(r"php:\d+\.\d+\.\d+-cli-\w+@sha256:[0-9a-f]{64}", job["container"]["image"])
    assert re.fullmatch(r"mysql:8\.0\.\d+@sha256:[0-9a-f]{64}", job["services"]["mysql"]["image"])
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


def test_app_ci_php_is_the_production_image_php_and_mysql_the_production_mysql(workflows):
    job = workflows["app-ci.yml"]["jobs"]["test"]
    dockerfile = (REPO / "app" / "Dockerfile").read_text(encoding="utf-8")
    prod = re.search(r"^FROM php:(\d+\.\d+\.\d+)-apache-(\w+)@", dockerfile, re.M)
    assert job["container"]["image"].startswith(f"php:{prod[1]}-cli-{prod[2]}@sha256:")
    images = yaml.safe_load((REPO / "pillar" / "images.sls").read_text(encoding="utf-8"))["images"]
    mysql = images["mysql"]
    assert job["services"]["mysql"]["image"] == f"mysql:{mysql['tag']}@{mysql['digest']}"
    runs = "\n".join(_runs(job))
    assert "printf 'APP_ENV=testing\\nAPP_KEY=\\n' > .env" in runs
    assert "php artisan key:generate" in runs


def test_app_ci_uses_no_secrets(workflows):
    assert "secrets." not in (WORKFLOWS_DIR / "app-ci.yml").read_text(encoding="utf-8")


# --- release.yml ----------------------------------------------------------------


def test_release_triggers(release):
    on = release["on"]
    assert on["release"]["types"] == ["published"]
    assert on["workflow_dispatch"]["inputs"]["version"]["required"] is True
    assert on["workflow_call"]["inputs"]["version"]["required"] is True


def test_version_checked_and_deploy_planned_by_the_lostops_command(release):
    runs = " ".join(_runs(release["jobs"]["prepare"]))
    assert "python -m lostops release plan" in runs
    plan = next(s for s in steps_of(release["jobs"]["prepare"]) if s.get("id") == "plan")
    assert plan["env"]["PRERELEASE"] == "${{ github.event.release.prerelease }}"
    assert plan["env"]["INPUT_FORCE"] == "${{ inputs.force }}"
    outputs = release["jobs"]["prepare"]["outputs"]
    for key in ("version", "build", "deploy", "latest", "force", "infra-ref", "digest"):
        assert key in outputs, key


def test_infra_ref_never_falls_back_to_a_branch(release):
    text = (WORKFLOWS_DIR / "release.yml").read_text(encoding="utf-8")
    assert "'main'" not in text
    # a called workflow cannot read its own commit (github.job_workflow_sha is
    # not in the github context): the caller must pass it
    assert "job_workflow_sha" not in text
    assert release["on"]["workflow_call"]["inputs"]["infra-ref"]["required"] is True
    steps = steps_of(release["jobs"]["prepare"])
    guard = step_index(steps, lambda s: "No infra commit" in str(s.get("run", "")))
    checkout = step_index(steps, lambda s: uses(s, "actions/checkout"))
    assert guard < checkout
    expr = "${{ inputs.infra-repository && inputs.infra-ref || github.sha }}"
    assert steps[guard]["env"]["INFRA_REF"] == "${{ inputs.infra-ref }}"
    assert steps[checkout]["with"]["ref"] == expr
    assert "^[0-9a-f]{40}$" in steps[guard]["run"] and "exit 2" in steps[guard]["run"]
    # the guard's own script: a call with an empty, branch or hostile ref stops; a SHA passes
    for called, ref, rc in [
        ("true", "", 2),
        ("true", "main", 2),
        ("true", "f" * 40 + "\nforce=true", 2),
        ("true", "f" * 40, 0),
        ("false", "", 0),
    ]:
        r = subprocess.run(
            ["bash", "-e", "-c", steps[guard]["run"]],
            env={"PATH": os.environ["PATH"], "CALLED": called, "INFRA_REF": ref},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == rc, (called, ref, r.stdout, r.stderr)


def test_manual_run_has_force_input(release):
    force = release["on"]["workflow_dispatch"]["inputs"]["force"]
    assert force["type"] == "boolean" and force["default"] is False


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
    assert "python -m lostops summary trivy" in runs and "GITHUB_STEP_SUMMARY" in runs


def test_build_pushes_the_version_only_and_latest_moves_after_the_deploy(release):
    steps = steps_of(release["jobs"]["build"])
    meta = next(s for s in steps if uses(s, "docker/metadata-action"))
    tags = [t.strip() for t in meta["with"]["tags"].splitlines() if t.strip()]
    assert tags == ["type=raw,value=${{ needs.prepare.outputs.version }}"], "no latest at build time"
    assert "latest=false" in meta["with"]["flavor"]
    assert meta["env"]["DOCKER_METADATA_ANNOTATIONS_LEVELS"] == "manifest,index"
    latest = release["jobs"]["latest"]
    assert set(latest["needs"]) == {"prepare", "build", "deploy"}
    cond = " ".join(str(latest["if"]).split())
    assert "needs.deploy.result == 'success'" in cond and "needs.prepare.outputs.latest == 'true'" in cond
    assert latest["permissions"] == {"packages": "write"}
    push = next(s for s in steps if uses(s, "docker/build-push-action"))
    assert push["with"]["push"] is True
    assert push["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
    assert push["with"]["labels"] == "${{ steps.meta.outputs.labels }}"
    assert "provenance" in push["with"]


def test_build_uses_this_repositorys_recipe_on_the_app_source(release):
    steps = steps_of(release["jobs"]["build"])
    checkouts = {s["with"]["path"]: s["with"] for s in steps if uses(s, "actions/checkout")}
    assert checkouts["app-src"]["repository"] == "${{ needs.prepare.outputs.app-repository }}"
    assert checkouts["app-src"]["ref"] == "${{ needs.prepare.outputs.app-ref }}"
    assert checkouts["infra"]["ref"] == "${{ needs.prepare.outputs.infra-ref }}"
    push = next(s for s in steps if uses(s, "docker/build-push-action"))
    assert push["with"]["context"] == "app-src"
    assert push["with"]["file"] == "infra/app/Dockerfile"
    assert push["with"]["build-contexts"] == "recipe=infra/app"
    assert (REPO / "app" / "Dockerfile").is_file()


def test_build_has_no_build_args_or_secrets(release):
    push = next(s for s in steps_of(release["jobs"]["build"]) if uses(s, "docker/build-push-action"))
    assert not {"build-args", "secrets", "secret-files", "secret-envs"} & set(push["with"])


def test_build_permissions_packages_write(release):
    assert release["jobs"]["build"]["permissions"] == {
        "contents": "read",
        "packages": "write",
    }


@pytest.mark.parametrize("workflow, job", [("release.yml", "deploy"), ("drift.yml", "drift")])
def test_production_jobs_queue_in_one_group_never_cancelled(workflows, workflow, job):
    concurrency = workflows[workflow]["jobs"][job]["concurrency"]
    assert concurrency == {"group": "lostops-production", "cancel-in-progress": False, "queue": "max"}


def test_deploy_never_for_a_pre_release(release):
    condition = " ".join(str(release["jobs"]["deploy"]["if"]).split())
    assert "needs.prepare.outputs.deploy == 'true'" in condition


def test_deploy_environment_and_oidc(release):
    deploy = release["jobs"]["deploy"]
    assert deploy["environment"] == "production"
    assert deploy["permissions"]["id-token"] == "write"
    login = next(s for s in steps_of(deploy) if uses(s, "azure/login"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert deploy["env"]["ARM_USE_OIDC"] == "true"
    assert "ARM_CLIENT_SECRET" not in deploy["env"]


@pytest.mark.parametrize("workflow, job", [("release.yml", "deploy"), ("drift.yml", "drift")])
def test_terraform_pinned_with_wrapper_off_and_azure_login_used(workflows, workflow, job):
    steps = steps_of(workflows[workflow]["jobs"][job])
    tf = [s for s in steps if uses(s, "hashicorp/setup-terraform")]
    assert len(tf) == 1
    assert tf[0]["with"]["terraform_wrapper"] is False
    version = tf[0]["with"]["terraform_version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "an exact version, not a range or latest"
    assert tuple(map(int, version.split("."))) >= (1, 5, 0), "import blocks need terraform >= 1.5"
    # terraform before anything runs cdktf; azure/login before the az CLI (jit-access)
    first_cdktf = step_index(
        steps, lambda s: re.search(r"make .*(release-network|drift-network)", str(s.get("run", "")))
    )
    login = step_index(steps, lambda s: uses(s, "azure/login"))
    first_az = step_index(
        steps, lambda s: re.search(r"make .*(release-guard|release-access-open)", str(s.get("run", "")))
    )
    assert step_index(steps, lambda s: uses(s, "hashicorp/setup-terraform")) < first_cdktf
    assert login < first_az


@pytest.mark.parametrize("workflow, job", [("release.yml", "deploy"), ("drift.yml", "drift")])
def test_no_cache_in_jobs_holding_production_credentials(workflows, workflow, job):
    for step in steps_of(workflows[workflow]["jobs"][job]):
        assert not uses(step, "actions/cache"), step
        if uses(step, "actions/setup-node"):
            assert step["with"].get("package-manager-cache") is False and "cache" not in step["with"]
        if uses(step, "actions/setup-python"):
            assert "cache" not in step["with"]


def _make_targets(job: dict) -> list[tuple[int, str]]:
    out = []
    for n, step in enumerate(steps_of(job)):
        for m in re.finditer(r"\bmake (?:--\S+ )*([a-z][a-z0-9-]+)", str(step.get("run", ""))):
            out.append((n, m.group(1)))
    return out


def test_deploy_steps_are_make_targets_in_order(release):
    deploy = release["jobs"]["deploy"]
    steps = steps_of(deploy)
    targets = [t for _, t in _make_targets(deploy)]
    assert targets == [
        "deps-deploy",
        "release-guard",
        "release-network",
        "release-access-open",
        "release-secrets",
        "release-rollout",
        "release-rollout-log",
        "release-access-close",
        "release-cleanup",
    ]
    # nothing that touches hosts or state is inline: no salt-ssh, cdktf, az, nft
    for step in steps:
        run = str(step.get("run", ""))
        for word in ("salt-ssh", "cdktf", "az ", "nft ", "secrets write"):
            assert word not in run, f"{step.get('name')}: {word!r} belongs in a make target"
    ip = step_index(steps, lambda s: s.get("id") == "runner-ip")
    open_ssh = step_index(steps, lambda s: "release-access-open" in str(s.get("run", "")))
    assert ip < open_ssh
    assert steps[open_ssh]["env"]["LOSTOPS_JIT_IP"] == "${{ steps.runner-ip.outputs.ip }}"
    # the runner is never an admin source: nothing goes into the pillar
    assert "LOSTOPS_EXTRA_ADMIN_SOURCES" not in (WORKFLOWS_DIR / "release.yml").read_text(encoding="utf-8")


def test_deploy_closes_access_always_and_cleans_up_always(release):
    steps = steps_of(release["jobs"]["deploy"])
    close = next(s for s in steps if "release-access-close" in str(s.get("run", "")))
    assert close["if"] == "${{ always() && steps.runner-ip.outputs.ip != '' }}"
    assert close["env"]["LOSTOPS_JIT_IP"] == "${{ steps.runner-ip.outputs.ip }}"
    cleanup = next(s for s in steps if "release-cleanup" in str(s.get("run", "")))
    assert cleanup["if"] == "${{ always() }}"
    assert steps.index(close) < steps.index(cleanup)


def test_deploy_uses_the_scanned_digest(release):
    deploy = release["jobs"]["deploy"]
    assert deploy["env"]["APP_DIGEST"] == "${{ needs.build.outputs.digest || needs.prepare.outputs.digest }}"
    assert release["jobs"]["build"]["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"
    scan_refs = {
        s["with"]["image-ref"] for s in steps_of(release["jobs"]["scan"]) if uses(s, "aquasecurity/trivy-action")
    }
    assert scan_refs == {"${{ env.IMAGE }}@${{ needs.build.outputs.digest }}"}
    steps = steps_of(deploy)
    check = step_index(steps, lambda s: "^sha256:[0-9a-f]{64}$" in str(s.get("run", "")))
    rollout = step_index(steps, lambda s: "release-rollout " in str(s.get("run", "")) + " ")
    assert check < rollout
    # a redeploy resolves the tag to its digest in prepare
    existing = next(s for s in steps_of(release["jobs"]["prepare"]) if s.get("id") == "existing")
    assert "imagetools inspect" in existing["run"] and "digest=" in existing["run"]


def test_deploy_version_order_guard_before_anything_changes(release):
    deploy = release["jobs"]["deploy"]
    targets = [t for _, t in _make_targets(deploy)]
    assert targets.index("release-guard") < targets.index("release-network")
    assert deploy["env"]["FORCE"] == "${{ needs.prepare.outputs.force }}"
    assert deploy["env"]["APP_VERSION"] == "${{ needs.prepare.outputs.version }}"


def test_deploy_writes_outputs_json():
    mk = (REPO / "mk" / "release.mk").read_text(encoding="utf-8")
    recipe = mk.split("\nrelease-network:", 1)[1].split("\n\n", 1)[0]
    assert "$(CDK) deploy network $(CDK_APP) --auto-approve --outputs-file outputs.json" in recipe
    cdk_mk = (REPO / "mk" / "cdktn.mk").read_text(encoding="utf-8")
    assert "LOSTOPS_CDK ?= cdktf" in cdk_mk and "CDK := npx cdktf\n" in cdk_mk  # the default CDK


def test_container_logs_never_go_to_the_job_summary(release):
    steps = steps_of(release["jobs"]["deploy"])
    mk = (REPO / "mk" / "release.mk").read_text(encoding="utf-8")
    assert "comments=False" in (REPO / "lostops" / "release.py").read_text(encoding="utf-8")
    log = next(s for s in steps if "release-rollout-log" in str(s.get("run", "")))
    assert "GITHUB_STEP_SUMMARY" not in log["run"]
    upload = next(s for s in steps if uses(s, "actions/upload-artifact"))
    assert upload["with"]["path"] == "rollout.log" and upload["with"]["retention-days"] <= 7
    assert "GITHUB_STEP_SUMMARY" not in mk.split("release-rollout-log:", 1)[1]


def test_deploy_secrets_only_through_env(release):
    steps = steps_of(release["jobs"]["deploy"])
    write = next(s for s in steps if "release-secrets" in str(s.get("run", "")))
    for key in (
        "MYSQL_ROOT_PASSWORD",
        "MYSQL_APP_PASSWORD",
        "MYSQL_EXPORTER_PASSWORD",
        "MYSQL_CA_CERT",
        "MYSQL_CA_KEY",
        "APP_KEY",
        "GRAFANA_ADMIN_PASSWORD",
        "DISCORD_WEBHOOK_URL",
        "PROMETHEUS_BASIC_AUTH",
        "REGISTRY_PASSWORD",
        "TRAEFIK_DASHBOARD_AUTH",
        "BACKUP_SAS_TOKEN",
        "BACKUP_AGE_RECIPIENT",
    ):
        name = f"LOSTOPS_SECRET_{key}"
        assert write["env"][name] == f"${{{{ secrets.{name} }}}}"
    assert write["env"]["LOSTOPS_SSH_PRIVATE_KEY"] == "${{ secrets.LOSTOPS_SSH_PRIVATE_KEY }}"
    assert "set -x" not in (WORKFLOWS_DIR / "release.yml").read_text(encoding="utf-8")
    others = [s for s in steps if s is not write and "secrets." in json.dumps(s.get("env") or {})]
    assert not others, [s.get("name") for s in others]


# --- drift.yml ------------------------------------------------------------------


def test_drift_schedule_and_steps(workflows):
    drift = workflows["drift.yml"]
    assert drift["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in drift["on"]
    job = drift["jobs"]["drift"]
    targets = [t for _, t in _make_targets(job)]
    assert targets == [
        "deps-deploy",
        "drift-network",
        "drift-leftovers",  # what an earlier run left, before this run opens anything
        "release-access-open",
        "release-secrets",
        "drift-hosts",
        "release-access-close",
        "drift-report",
        "release-cleanup",
    ]
    steps = steps_of(job)
    report = next(s for s in steps if "drift-report" in str(s.get("run", "")))
    assert "GITHUB_STEP_SUMMARY" in report["run"]
    close = next(s for s in steps if "release-access-close" in str(s.get("run", "")))
    assert "always()" in close["if"]
    assert steps.index(close) < steps.index(report), "leftovers are checked after this run closed its own access"
    mk = (REPO / "mk" / "release.mk").read_text(encoding="utf-8")
    assert "$(DEPLOY_LOSTOPS) jit check" in mk.split("drift-report:", 1)[1].split("\n\n", 1)[0]
    # Drift never puts the runner into the pillar.
    assert "LOSTOPS_EXTRA_ADMIN_SOURCES" not in (WORKFLOWS_DIR / "drift.yml").read_text(encoding="utf-8")
    assert "state.apply test=True" in mk.split("drift-hosts:", 1)[1].split("\n\n", 1)[0]
    # the roster reads the same outputs.json as in the release
    assert (
        "$(CDK) output network $(CDK_APP) --skip-synth --outputs-file outputs.json"
        in mk.split("\ndrift-network:", 1)[1]
    )


def test_drift_without_the_production_inventory_is_skipped_with_one_line(workflows, tmp_path):
    """A repository without pillar/inventory/production.yaml: job `inventory` says so in one
    line and the drift job is skipped (neutral), instead of going red every day."""
    drift = workflows["drift.yml"]
    assert drift["jobs"]["drift"]["needs"] == "inventory"
    assert drift["jobs"]["drift"]["if"] == "needs.inventory.outputs.present == 'true'"
    step = next(s for s in steps_of(drift["jobs"]["inventory"]) if s.get("id") == "inventory")
    assert drift["jobs"]["inventory"]["permissions"] == {"contents": "read"}
    for inventory, present, notice in [("production", "false", True), ("example", "true", False), ("x;y", None, False)]:
        out, summary = tmp_path / f"out-{present}", tmp_path / f"sum-{present}"
        out.write_text("")
        summary.write_text("")
        r = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=REPO,
            env={
                "PATH": os.environ["PATH"],
                "LOSTOPS_INVENTORY": inventory,
                "GITHUB_OUTPUT": str(out),
                "GITHUB_STEP_SUMMARY": str(summary),
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
        if present is None:
            assert r.returncode == 2 and out.read_text() == ""
            continue
        assert r.returncode == 0, r.stderr
        assert out.read_text() == f"present={present}\n"
        if notice:
            assert r.stdout.startswith(
                "::notice title=Drift check skipped::No drift check: pillar/inventory/production.yaml"
            )
            assert len(summary.read_text().splitlines()) == 1


@pytest.mark.parametrize("workflow, job", [("release.yml", "deploy"), ("drift.yml", "drift")])
def test_ssh_key_path_is_set_per_step_where_runner_temp_exists(workflows, workflow, job):
    steps = steps_of(workflows[workflow]["jobs"][job])
    needs_key = [
        s
        for s in steps
        if re.search(r"make .*(release-secrets|release-rollout|drift-hosts|release-cleanup)", str(s.get("run", "")))
    ]
    assert needs_key
    for s in needs_key:
        assert s["env"]["LOSTOPS_SSH_KEY"] == "${{ runner.temp }}/lostops-ssh-key", s.get("name")


def test_node_is_a_supported_version(workflows):
    """Node 20 is end of life (2026-04-30) and no longer cached on the runner image."""
    for name, job_id, step in all_steps(workflows):
        if uses(step, "actions/setup-node"):
            assert int(str(step["with"]["node-version"]).split(".")[0]) >= 22, f"{name}/{job_id}"


def test_artifact_names_are_unique_per_attempt(workflows):
    """A re-run of a job must not upload under a name that exists (409)."""
    for name, job_id, step in all_steps(workflows):
        if uses(step, "actions/upload-artifact"):
            assert "${{ github.run_attempt }}" in step["with"]["name"], f"{name}/{job_id}"


def test_cross_repository_checkouts_use_the_github_app_token(release):
    """github.token reads only the repository that runs: a private app or infra repository
    needs the App's token (when configured), scoped to the two repositories, read-only."""
    for job_id in ("prepare", "build", "scan", "deploy"):
        steps = steps_of(release["jobs"][job_id])
        app = [s for s in steps if uses(s, "actions/create-github-app-token")]
        assert len(app) == 1, job_id
        w = app[0]["with"]
        assert app[0]["id"] == "app-token" and app[0]["if"] == "vars.LOSTOPS_GITHUB_APP_CLIENT_ID != ''"
        assert w["permission-contents"] == "read" and w["repositories"] and w["private-key"].startswith("${{ secrets.")
        for s in steps:
            if uses(s, "actions/checkout"):
                assert s["with"]["token"] == "${{ steps.app-token.outputs.token || github.token }}", job_id
                assert steps.index(app[0]) < steps.index(s)


@pytest.mark.parametrize("workflow, job", [("release.yml", "deploy"), ("drift.yml", "drift")])
def test_azure_login_again_before_the_close(workflows, workflow, job):
    """The az CLI cannot refresh its OIDC login: a long deploy logs in again before closing."""
    steps = steps_of(workflows[workflow]["jobs"][job])
    logins = [n for n, s in enumerate(steps) if uses(s, "azure/login")]
    close = step_index(steps, lambda s: "release-access-close" in str(s.get("run", "")))
    salt = step_index(steps, lambda s: s.get("id") == "salt")
    assert len(logins) == 2 and salt < logins[1] < close
    assert steps[logins[1]]["if"] == steps[close]["if"]


def test_lock_timeout_reaches_terraform(tmp_path):
    """release-network and drift-network run terraform through cdktf with -lock-timeout: a
    deploy from the app repository and the drift check here can meet at the state lock."""
    stub = tmp_path / "npx"
    stub.write_text('#!/bin/sh\necho "plan=$TF_CLI_ARGS_plan apply=$TF_CLI_ARGS_apply"\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "LOSTOPS_INVENTORY": "example"}
    env.pop("MAKEFLAGS", None)
    for target in ("release-network", "drift-network"):
        r = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-o",
                ".venv/.synced-deploy",
                "-o",
                "node_modules/.synced",
                "DEPLOY_LOSTOPS=true",
                target,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "plan=-lock-timeout=20m apply=-lock-timeout=20m" in r.stdout, (target, r.stdout, r.stderr)
    (REPO / "cdktf-diff.log").unlink(missing_ok=True)


LATEST_CASES = [
    # current annotation on latest, version deployed, moved?
    ("", "1.4.2", True),
    ("1.4.1", "1.4.2", True),
    ("1.4.2", "1.4.2", False),
    ("1.10.0", "1.9.5", False),  # numeric, not lexical: an older hotfix never moves latest back
    ("1.9.5", "1.10.0", True),
    ("2.0.0", "1.99.99", False),
]


@pytest.mark.parametrize("current, version, moves", LATEST_CASES)
def test_latest_moves_only_forward(release, tmp_path, current, version, moves):
    """The latest job's own script, run with a stand-in docker that records what it is asked."""
    step = next(s for s in steps_of(release["jobs"]["latest"]) if "imagetools create" in str(s.get("run", "")))
    log = tmp_path / "docker.log"
    docker = tmp_path / "docker"
    index = json.dumps({"annotations": {"org.opencontainers.image.version": current}} if current else {})
    docker.write_text(f"#!/bin/sh\necho \"$*\" >> {log}\ncase \"$*\" in *'inspect --raw'*) echo '{index}';; esac\n")
    docker.chmod(0o755)
    summary = tmp_path / "summary"
    digest = "sha256:" + "ab" * 32
    r = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={
            "PATH": f"{tmp_path}:{os.environ['PATH']}",
            "VERSION": version,
            "DIGEST": digest,
            "IMAGE": "ghcr.io/lostops-stg5/lostops-app",
            "GITHUB_STEP_SUMMARY": str(summary),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    created = [line for line in log.read_text().splitlines() if "imagetools create" in line]
    if moves:
        assert created == [
            "buildx imagetools create --annotation index:org.opencontainers.image.version="
            f"{version} --tag ghcr.io/lostops-stg5/lostops-app:latest ghcr.io/lostops-stg5/lostops-app@{digest}"
        ]
    else:
        assert created == [] and "is not newer" in summary.read_text()
