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
    # A bcrypt line of the right shape (htpasswd -nbB): cost 05, 22 characters of salt, 31 of hash.
    "prometheus_basic_auth": "prometheus:$2y$05$" + "abcdefghijklmnopqrstuv" + "A" * 31,
    # the example inventory has azure.backup: the database host's create-only SAS and the age recipient
    "backup_sas_token": "sv=2021-08-06&se=2099-01-01T00:00:00Z&sr=c&sp=c&spr=https&sig=c2lnbmF0dXJl",
    "backup_age_recipient": "age1" + "q" * 58,
}
BCRYPT = VALID["prometheus_basic_auth"]


def test_a_complete_set_passes():
    secrets.check(dict(VALID), INV)


@pytest.mark.parametrize("key", sorted(secrets.SPEC))
def test_missing_key_names_the_key_and_the_variable(key):
    values = {k: v for k, v in VALID.items() if k != key}
    with pytest.raises(secrets.SecretError) as exc:
        secrets.check(values, INV, file=Path("pillar/secrets.yaml"))
    assert str(exc.value) == (
        f"secrets.{key}: missing from pillar/secrets.yaml (set LOSTOPS_SECRET_{key.upper()} and run `make secrets`)"
    )


def test_placeholder_from_the_example_is_refused():
    example = yaml.safe_load((ROOT / "pillar/secrets.yaml.example").read_text())
    assert set(example) == set(secrets.SPEC) | set(secrets.BACKUP_KEYS), "the example must show every key"
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
        ("prometheus_basic_auth", "prometheus:plaintext", "bcrypt htpasswd line"),
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


# ---- hostile secrets: one line naming the key (and where), never the value

SECRET_VALUE = "root-password-for-tests-0001"


def _read(tmp_path, text: str) -> str:
    file = tmp_path / "secrets.yaml"
    file.write_text(text)
    with pytest.raises(secrets.SecretError) as exc:
        secrets.read(file)
    line = str(exc.value)
    assert "\n" not in line and SECRET_VALUE not in line and "for-tests" not in line, line
    return line.replace(str(file), "FILE")


READ_HOSTILE = [
    # (id, file text, expected line with FILE for the path)
    (
        "duplicate-key",
        f"mysql_root_password: {SECRET_VALUE}\nmysql_root_password: {SECRET_VALUE}x\n",
        "secrets.mysql_root_password: duplicate key in FILE (line 2, column 1)",
    ),
    (
        "number",
        "mysql_root_password: 1234567890123456\n",
        "secrets.mysql_root_password: must be a string, not int (line 1, column 22 in FILE); quote the value",
    ),
    ("boolean", "app_key: yes\n", "secrets.app_key: must be a string, not bool (line 1, column 10 in FILE)"),
    ("null", "app_key:\n", "secrets.app_key: must be a string, not null"),
    ("date", "app_key: 2024-01-01\n", "secrets.app_key: must be a string, not timestamp"),
    ("list", "app_key: [a, b]\n", "secrets.app_key: must be a string, not a list (line 1, column 10 in FILE)"),
    ("mapping", "app_key: {a: b}\n", "secrets.app_key: must be a string, not a mapping"),
    (
        "unknown",
        f"mysql_rot_password: {SECRET_VALUE}\n",
        "secrets.mysql_rot_password: unknown key in FILE (line 1, column 1)",
    ),
    (
        "alias",
        f"mysql_root_password: &p {SECRET_VALUE}\nmysql_app_password: *p\n",
        "FILE: not valid YAML (line 2, column 21); no value is shown",
    ),
    ("syntax", f'mysql_root_password: "{SECRET_VALUE}\n', "FILE: not valid YAML (line 2, column 1); no value is shown"),
    ("not-a-mapping", f"- {SECRET_VALUE}\n", "FILE: must be a mapping of secret names to values"),
    ("list-key", f"? [a]\n: {SECRET_VALUE}\n", "FILE: a key that is not a plain name (line 1, column 3)"),
]


@pytest.mark.parametrize("text,expected", [pytest.param(t, e, id=i) for i, t, e in READ_HOSTILE])
def test_secrets_file_is_read_strictly(tmp_path, text, expected):
    assert _read(tmp_path, text).startswith(expected)


def test_secrets_file_strings_are_read_as_written(tmp_path):
    file = tmp_path / "secrets.yaml"
    file.write_text(yaml.safe_dump(VALID))
    assert secrets.read(file) == VALID
    file.write_text("mysql_root_password: '0123456789012345'\napp_key: 'yes'\n")
    assert secrets.read(file) == {"mysql_root_password": "0123456789012345", "app_key": "yes"}


CHECK_HOSTILE = [
    # (id, key, value, expected line): refused before any host changes (the pillar's pre-flight)
    ("cr-in-password", "mysql_app_password", "app-password-for-tests\r", "contains a carriage return"),
    ("cr-in-root-password", "mysql_root_password", "root-pass\r\nword-for-tests", "contains a carriage return"),
    ("cr-in-pem", "mysql_ca_cert", VALID["mysql_ca_cert"].replace("\n", "\r\n"), "contains a carriage return"),
    ("nul", "grafana_admin_password", "grafana-pass\x00word", "contains a NUL character"),
    (
        "apr1-is-not-bcrypt",
        "prometheus_basic_auth",
        "prometheus:$apr1$abcdefgh$" + "A" * 22,
        "not a valid bcrypt htpasswd line",
    ),
    ("bcrypt-truncated", "prometheus_basic_auth", BCRYPT[:-1], "not a valid bcrypt htpasswd line"),
    ("bcrypt-trailing-junk", "prometheus_basic_auth", BCRYPT + " x", "not a valid bcrypt htpasswd line"),
    (
        "bcrypt-second-line",
        "prometheus_basic_auth",
        BCRYPT + "\nadmin:" + BCRYPT.split(":")[1],
        "not a valid bcrypt htpasswd line",
    ),
    ("bcrypt-cost-99", "prometheus_basic_auth", BCRYPT.replace("$05$", "$99$"), "not a valid bcrypt htpasswd line"),
    ("bcrypt-no-user", "prometheus_basic_auth", BCRYPT.split("prometheus")[1], "not a valid bcrypt htpasswd line"),
    ("plain", "prometheus_basic_auth", "prometheus:secret", "not a valid bcrypt htpasswd line"),
    (
        "dashboard-plain",
        "traefik_dashboard_auth",
        "admin:secret",
        "not a valid bcrypt htpasswd line for the Traefik dashboard",
    ),
    (
        "dashboard-apr1",
        "traefik_dashboard_auth",
        "admin:$apr1$abcdefgh$" + "A" * 22,
        "not a valid bcrypt htpasswd line",
    ),
    ("dashboard-cr", "traefik_dashboard_auth", BCRYPT + "\r", "contains a carriage return"),
    ("registry-cr", "registry_password", "ghp_token\r", "contains a carriage return"),
]


@pytest.mark.parametrize("key,value,expected", [pytest.param(k, v, e, id=i) for i, k, v, e in CHECK_HOSTILE])
def test_hostile_secret_values_are_one_line_naming_the_key(key, value, expected):
    with pytest.raises(secrets.SecretError) as exc:
        secrets.check({**VALID, key: value}, INV)
    line = str(exc.value)
    assert line.startswith(f"secrets.{key}: {expected}"), line
    assert "\n" not in line and value.strip() not in line
    with pytest.raises(secrets.SecretError):  # and `lostops secrets write` refuses it too
        secrets.from_environment({secrets.env_name(k): v for k, v in {**VALID, key: value}.items()}, INV)


def test_a_bcrypt_dashboard_line_passes():
    secrets.check({**VALID, "traefik_dashboard_auth": "admin:" + BCRYPT.split(":")[1]}, INV)


def test_write_secrets_to_an_unwritable_place_is_one_line_and_leaves_no_temporary_file(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    for target, expected in (
        (tmp_path / "missing" / "secrets.yaml", "No such file or directory"),
        (locked, "Is a directory"),
    ):
        proc = clirun.run("secrets", "write", env={**_env(), "LOSTOPS_SECRETS_FILE": str(target)})
        assert proc.returncode == 1, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith("write-secrets: cannot write ") and expected in line, line
    assert [p.name for p in locked.iterdir()] == [], "no temporary file left behind"
    assert [p.name for p in tmp_path.iterdir()] == ["locked"]


def test_the_temporary_file_is_removed_when_writing_fails(tmp_path, monkeypatch):
    from lostops import privatefile

    def boom(*_a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(privatefile.os, "replace", boom)
    with pytest.raises(OSError):
        secrets.write(dict(VALID), tmp_path / "secrets.yaml")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_is_git_ignored_and_created_exclusively(tmp_path, monkeypatch):
    import tempfile as tf

    from lostops import privatefile

    names = []
    real = tf.mkstemp

    def spy(**kw):
        fd, name = real(**kw)
        names.append(name)
        assert os.stat(name).st_mode & 0o077 == 0, "0600 from the first byte"
        return fd, name

    monkeypatch.setattr(privatefile.tempfile, "mkstemp", spy)
    secrets.write(dict(VALID), tmp_path / "secrets.yaml")
    (name,) = names
    ignored = subprocess.run(["git", "check-ignore", "-q", f"pillar/{Path(name).name}"], cwd=ROOT, capture_output=True)
    assert ignored.returncode == 0, f"{Path(name).name} is not git-ignored"


def test_mysql_ca_bad_cn_and_unwritable_file_are_one_line(tmp_path):
    cases = [
        (["--cn", ""], 2, "make-mysql-ca: --cn: the common name is empty"),
        (["--cn", "x" * 65], 2, "make-mysql-ca: --cn: 65 characters; a common name has at most 64"),
        (["--cn", "CA\nx"], 2, "make-mysql-ca: --cn: contains a line break or control character"),
        (
            [str(tmp_path / "no" / "ca.env")],
            1,
            f"make-mysql-ca: cannot write {tmp_path / 'no' / 'ca.env'}: No such file",
        ),
        ([str(tmp_path)], 1, f"make-mysql-ca: {tmp_path} exists"),
        ([str(tmp_path), "--force"], 1, f"make-mysql-ca: cannot write {tmp_path}: Is a directory"),
    ]
    for args, code, expected in cases:
        proc = clirun.run("mysql-ca", *args)
        assert proc.returncode == code, (args, proc.stderr)
        (line,) = proc.stderr.splitlines()
        assert line.startswith(expected), line
    assert [p.name for p in tmp_path.iterdir()] == [], "no temporary file left behind"


@pytest.mark.parametrize("key", secrets.BACKUP_KEYS)
def test_backup_keys_are_required_when_the_inventory_has_backup_storage(key):
    values = {k: v for k, v in VALID.items() if k != key}
    with pytest.raises(secrets.SecretError) as exc:
        secrets.check(values, INV, file=Path("pillar/secrets.yaml"))
    assert str(exc.value).startswith(
        f"secrets.{key}: missing from pillar/secrets.yaml (inventory azure.backup needs it"
    )
    no_backup = inventory.parse(
        {
            **yaml.safe_load((ROOT / "pillar/inventory/example.yaml").read_text()),
            "azure": {**yaml.safe_load((ROOT / "pillar/inventory/example.yaml").read_text())["azure"], "backup": None},
        },
        name="nobackup",
    )
    secrets.check(values, no_backup)


@pytest.mark.parametrize(
    "token,problem",
    [
        (
            "sv=2021-08-06&se=2099-01-01T00:00:00Z&sr=c&sp=cw&spr=https&sig=x",
            "permissions sp='cw': the database host may only create blobs (sp=c)",
        ),
        ("sv=2021-08-06&se=2099-01-01T00:00:00Z&sr=c&sp=rcwdl&spr=https&sig=x", "permissions sp='rcwdl'"),
        ("sv=2021-08-06&se=2099-01-01T00:00:00Z&sr=b&sp=c&spr=https&sig=x", "resource sr='b'"),
        (
            "sv=2021-08-06&se=2099-01-01T00:00:00Z&sr=c&sp=c&spr=https,http&sig=x",
            "protocol: the SAS must be HTTPS only",
        ),
        ("sv=2021-08-06&se=2020-01-01T00:00:00Z&sr=c&sp=c&spr=https&sig=x", "expired at 2020-01-01T00:00:00Z"),
        ("sv=2021-08-06&sr=c&sp=c&spr=https&sig=x", "not a SAS token (no se=)"),
        ("?sv=2021-08-06&se=2099-01-01T00:00:00Z&sr=c&sp=c&spr=https&sig=x", "without a leading '?'"),
        ("https://a.blob.core.windows.net/c?sv=1", "not a SAS token"),
    ],
)
def test_backup_sas_must_be_create_only_https_and_unexpired(token, problem):
    with pytest.raises(secrets.SecretError) as exc:
        secrets.check({**VALID, "backup_sas_token": token}, INV)
    assert str(exc.value).startswith("secrets.backup_sas_token: ") and problem in str(exc.value)


def test_backup_age_recipient_must_be_an_age_public_key():
    with pytest.raises(secrets.SecretError, match=r"^secrets\.backup_age_recipient: not a valid age public key"):
        secrets.check({**VALID, "backup_age_recipient": "AGE-SECRET-KEY-1" + "Q" * 58}, INV)


def test_the_project_signer_makes_a_sas_the_check_accepts():
    import datetime as dt

    from lostops import backup

    token = backup.container_sas("acct", "a2V5", "mysql-backups", "c", dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    assert secrets.sas_problem(token) is None
    assert "sp=c&" in token and "spr=https" in token
    read = backup.container_sas("acct", "a2V5", "mysql-backups", "lr", dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert "sp=rl&" in read  # Azure's permission order
    assert "may only create" in secrets.sas_problem(read)


def test_backup_sas_command_signs_with_the_key_from_the_environment_only():
    args = ("backup", "sas", "--account", "acct", "--container", "mysql-backups", "--permissions", "c", "--days", "90")
    r = clirun.run(*args, unset=("LOSTOPS_BACKUP_ACCOUNT_KEY",))
    assert (r.returncode, r.stderr.strip()) == (
        2,
        "backup sas: LOSTOPS_BACKUP_ACCOUNT_KEY: not set (the storage account's access key)",
    )
    r = clirun.run(*args, env={"LOSTOPS_BACKUP_ACCOUNT_KEY": "a2V5"})
    assert r.returncode == 0, r.stderr
    assert secrets.sas_problem(r.stdout.strip()) is None
    r = clirun.run(*args[:-1], "400", env={"LOSTOPS_BACKUP_ACCOUNT_KEY": "a2V5"})
    assert (r.returncode, r.stderr.strip()) == (2, "backup sas: --days: 400 is outside (0, 365]")
    r = clirun.run(*args[:7], "cq", "--days", "1", env={"LOSTOPS_BACKUP_ACCOUNT_KEY": "a2V5"})
    assert r.returncode == 2 and r.stderr.startswith("backup sas: permissions: 'cq' is not a combination of")
