"""Secrets: the writer script and the pre-flight check, down to Salt's pillar.

A missing or placeholder secret must stop `salt-ssh ... state.apply` before any
state runs, with one line naming the key. The last tests render the real
pillar through salt-call to see the message as Salt shows it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from lostops import inventory, render, secrets
from tests.unit import clirun

ROOT = Path(__file__).resolve().parents[2]
INV = inventory.load("example")

VALID = {
    "mysql_root_password": "root-password-for-tests-0001",
    "mysql_app_password": "app-password-for-tests-00001",
    "mysql_exporter_password": "exporter-password-for-tests1",
    "mysql_ca_cert": "-----BEGIN CERTIFICATE-----\nMIIBfakeForTests\n-----END CERTIFICATE-----\n",
    # Only the PEM frame is checked; built here so no key-shaped text is committed.
    "mysql_ca_key": "-----BEGIN {0}-----\nMIGfakeForTests\n-----END {0}-----\n".format("PRIVATE " + "KEY"),
    "app_key": "base64:" + "A" * 43 + "=",
    "grafana_admin_password": "grafana-password-01",
    "discord_webhook_url": "https://discord.com/api/webhooks/123/abc-token",
    "prometheus_basic_auth": "prometheus:$2y$05$abcdefghijklmnopqrstuv",
}


def test_a_complete_set_passes():
    secrets.check(dict(VALID), INV)


@pytest.mark.parametrize("key", sorted(VALID))
def test_missing_key_names_the_key_and_the_variable(key):
    values = {k: v for k, v in VALID.items() if k != key}
    with pytest.raises(secrets.SecretError) as exc:
        secrets.check(values, INV, file=Path("pillar/secrets.yaml"))
    assert str(exc.value) == (
        f"secrets.{key}: missing from pillar/secrets.yaml (set LOSTOPS_SECRET_{key.upper()} and run `make secrets`)"
    )


def test_placeholder_from_the_example_is_refused():
    example = yaml.safe_load((ROOT / "pillar/secrets.yaml.example").read_text())
    assert set(example) == set(secrets.SPEC), "the example must show every key"
    with pytest.raises(secrets.SecretError, match=r"^secrets\.mysql_root_password: still the placeholder"):
        secrets.check({k: str(v) for k, v in example.items()}, INV)
    values = {**VALID, "grafana_admin_password": "CHANGEME-12-or-more"}
    with pytest.raises(secrets.SecretError) as exc:
        secrets.check(values, INV)
    assert str(exc.value) == "secrets.grafana_admin_password: still the placeholder from secrets.yaml.example"


@pytest.mark.parametrize(
    "key,value,what",
    [
        ("discord_webhook_url", "http://discord.com/api/webhooks/1/x", "Discord webhook URL"),
        ("app_key", "not-a-laravel-key", "Laravel APP_KEY"),
        ("prometheus_basic_auth", "prometheus:plaintext", "htpasswd line"),
        ("mysql_root_password", "short", "MySQL root password"),
        # mysqld_exporter runs os.ExpandEnv over its my.cnf: `$` cannot survive.
        ("mysql_exporter_password", "sixteen-chars-$HOME-x", "password of mysqld_exporter's MySQL user"),
        ("mysql_exporter_password", "sixteen-chars-long\nsecond-line", "password of mysqld_exporter's MySQL user"),
    ],
)
def test_malformed_values_are_refused(key, value, what):
    with pytest.raises(secrets.SecretError) as exc:
        secrets.check({**VALID, key: value}, INV)
    assert str(exc.value).startswith(f"secrets.{key}: not a valid {what}")


def test_each_role_gets_only_its_secrets():
    assert "mysql_root_password" not in secrets.for_role(VALID, "backend")
    assert "mysql_ca_key" not in secrets.for_role(VALID, "backend")
    assert set(secrets.for_role(VALID, "monitoring")) == {
        "grafana_admin_password",
        "discord_webhook_url",
        "prometheus_basic_auth",
    }


def _env() -> dict:
    """An environment overlay for `lostops secrets write`: None unsets a variable."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOSTOPS_SECRET_")}
    env["LOSTOPS_INVENTORY"] = "example"
    env.update({secrets.env_name(k): v for k, v in VALID.items()})
    return env


def test_write_secrets_writes_0600_and_prints_no_value(tmp_path):
    out = tmp_path / "secrets.yaml"
    proc = clirun.run("secrets", "write", env={**_env(), "LOSTOPS_SECRETS_FILE": str(out)})
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert yaml.safe_load(out.read_text()) == VALID
    for value in VALID.values():
        assert value.strip() not in proc.stdout + proc.stderr


def test_write_secrets_names_the_missing_variable(tmp_path):
    env = {**_env(), "LOSTOPS_SECRETS_FILE": str(tmp_path / "s.yaml")}
    env["LOSTOPS_SECRET_DISCORD_WEBHOOK_URL"] = None
    proc = clirun.run("secrets", "write", env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "write-secrets: LOSTOPS_SECRET_DISCORD_WEBHOOK_URL: not set (secrets.discord_webhook_url: Discord webhook URL for alerts)"
    )
    assert not (tmp_path / "s.yaml").exists(), "nothing half-written"


def _pillar(host: str, secrets_file: Path) -> subprocess.CompletedProcess:
    """salt-call --local pillar.items for `host`, through pillar/inventory_pillar.sls, secrets checked."""
    work = Path(tempfile.mkdtemp(prefix="lostops-pillar-"))
    render._minion_config(work, "example", None)
    env = {**render.render_env("example"), "LOSTOPS_SECRETS_FILE": str(secrets_file)}
    env.pop("LOSTOPS_SKIP_SECRETS_CHECK")
    return subprocess.run(
        [
            render.salt_call(),
            "--local",
            f"--config-dir={work}",
            "--id",
            host,
            "--out=json",
            "pillar.items",
            "unmask=True",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_salt_pillar_stops_on_a_missing_secret_with_one_line(tmp_path):
    file = tmp_path / "secrets.yaml"
    file.write_text(yaml.safe_dump({k: v for k, v in VALID.items() if k != "discord_webhook_url"}))
    proc = _pillar("backend", file)
    expected = (
        f"lostops pre-flight: secrets.discord_webhook_url: missing from {file} "
        "(set LOSTOPS_SECRET_DISCORD_WEBHOOK_URL and run `make secrets`)"
    )
    assert expected in proc.stdout + proc.stderr
    # The backend itself does not use the webhook: the check covers every role,
    # so that no host starts converging while another one would stop.


def test_salt_pillar_with_complete_secrets_filters_by_role(tmp_path):
    file = tmp_path / "secrets.yaml"
    file.write_text(yaml.safe_dump(VALID))
    proc = _pillar("backend", file)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pillar = json.loads(proc.stdout)["local"]
    assert set(pillar["secrets"]) == {"mysql_app_password", "mysql_ca_cert", "app_key"}
    assert pillar["lostops"]["host"]["role"] == "backend"


def test_exporter_password_may_hold_ini_comment_quote_and_blank_characters():
    """my.cnf quotes the value (salt/exporters/files/my.cnf.jinja): no need to refuse these."""
    for value in ("a#b;c \"d\" 'e' \\f g`h", "  leading and trailing  "):
        secrets.check({**VALID, "mysql_exporter_password": value}, INV)
