"""The app formula (salt/app), rendered through Salt, and its roll-out script.

Two parts:
  - render tests: the backend highstate and its rendered files from the shared
    session fixtures (`highstate`, `managed_files`), plus salt-call renders
    with extra pillar (version checks, registry login, per-version override);
    assertions on the states, the env file and the roll-out configuration;
  - a real run of salt/app/files/lostops-app-rollout WITHOUT Docker: a fake
    `docker` executable is put first on PATH. The fake (FAKE_DOCKER below) is
    a test double for the docker CLI only: it keeps containers/images in a
    JSON file, records every call, and answers `inspect` with the health
    status the test asks for (healthy, unhealthy, or stuck in starting). It
    proves the script's call sequence and roll-back logic, not Docker's.
"""

from __future__ import annotations

import json
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from lostops.inventory import REPO_ROOT as REPO
from tests.unit import formula_params
from tests.unit.saltcall import host_view, render_error, show_sls, state

ROLLOUT = REPO / "salt" / "app" / "files" / "lostops-app-rollout"
ENV_FILE = "/etc/lostops/app/app.env"


# --------------------------------------------------------------------------- render tests


def rollout_config(hs: dict) -> dict:
    return state(hs, "app-rollout-config-file-serialize")[1]["dataset"]


def env_context(hs: dict) -> dict:
    return state(hs, "app-config-env-file-managed")[1]["context"]["env"]


# The version each inventory's overrides render (pillar/overrides/example/init.sls,
# pillar/overrides/lab/app.sls); production commits none (see pillar/app.sls).
RENDERED_VERSION = {"example": "0.1.0", "lab": "0.1.0"}


def app_version(inventory: str = "example") -> str:
    return RENDERED_VERSION[inventory]


@pytest.mark.parametrize("inventory", ["example", "lab"])
def test_env_db_host_is_the_database_private_ip(highstate, inventory):
    view = host_view("backend", inventory)
    db = view["hosts"][view["roles"]["database"][0]]
    env = env_context(highstate("backend", inventory))
    assert env["DB_HOST"] == db["private_ip"]
    assert env["DB_PORT"] == str(view["services"]["mysql"]["port"])
    assert env["DB_CONNECTION"] == "mysql"
    assert env["APP_ENV"] == "production"
    assert env["APP_URL"] == f"https://{view['host']['dns'][0]}"


def test_env_database_names_from_pillar_and_tls_ca_path(highstate):
    hs = highstate("backend")
    env = env_context(hs)
    app = formula_params.production("app")
    assert env["DB_DATABASE"] == app["database"]["name"]
    assert env["DB_USERNAME"] == app["database"]["user"]
    assert env["MYSQL_ATTR_SSL_CA"] == "/run/lostops/mysql-ca.pem"
    assert "/etc/lostops/app/mysql-ca.pem:/run/lostops/mysql-ca.pem:ro" in rollout_config(hs)["mounts"]


# What the real app reads from its environment about the database and itself
# (lostops-stg5/lostops-app, Laravel 8.75: config/app.php, logging.php, database.php;
# the mysql connection's `options` are array_filter([PDO::MYSQL_ATTR_SSL_CA =>
# env('MYSQL_ATTR_SSL_CA')]) and nothing else: mysqlnd verifies the server
# certificate and its name because a CA is set).
READ_BY_THE_APP = {
    "APP_DEBUG",
    "LOG_CHANNEL",
    "APP_ENV",
    "APP_URL",
    "APP_KEY",
    "DB_CONNECTION",
    "DB_HOST",
    "DB_PORT",
    "DB_DATABASE",
    "DB_USERNAME",
    "DB_PASSWORD",
    "MYSQL_ATTR_SSL_CA",
}


@pytest.mark.parametrize("inventory", ["example", "lab"])
def test_env_has_only_variables_the_real_app_reads(highstate, inventory):
    """A variable the app never reads (e.g. MYSQL_ATTR_SSL_VERIFY_SERVER_CERT) only makes the
    lab stand-in test a path the real app lacks."""
    env = env_context(highstate("backend", inventory))
    assert set(env) <= READ_BY_THE_APP, sorted(set(env) - READ_BY_THE_APP)
    assert "MYSQL_ATTR_SSL_CA" in env


def test_env_file_0600_with_secrets_only_in_the_rendered_file(highstate, managed_files):
    hs = highstate("backend")
    fun, args = state(hs, "app-config-env-file-managed")
    assert fun == "file.managed"
    assert args["name"] == ENV_FILE
    assert args["mode"] == "0600"
    assert args["show_changes"] is False
    app_states = {sid: body for sid, body in hs.items() if sid.startswith("app-")}
    assert "CHANGEME" not in json.dumps(app_states), "secrets must not appear in the state data"
    lines = managed_files("backend")[ENV_FILE].splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert env["APP_KEY"] == "CHANGEME-base64:..."
    assert env["DB_PASSWORD"] == "CHANGEME-16-or-more-characters"
    assert env["DB_HOST"] == "10.20.1.20"
    assert env["MYSQL_ATTR_SSL_CA"] == "/run/lostops/mysql-ca.pem"


def test_mysql_ca_certificate_file(highstate):
    fun, args = state(highstate("backend"), "app-config-mysql-ca-file-managed")
    assert fun == "file.managed"
    assert args["name"] == "/etc/lostops/app/mysql-ca.pem"
    assert args["contents_pillar"] == "secrets:mysql_ca_cert"
    assert args["mode"] == "0644"


def test_image_is_pinned_to_app_version(highstate):
    cfg = rollout_config(highstate("backend"))
    assert cfg["version"] == app_version()
    assert cfg["image"] == f"ghcr.io/lostops-stg5/lostops-app:{app_version()}"
    cfg = rollout_config(show_sls("backend", "app", pillar='{"app": {"version": "2.3.4"}}'))
    assert cfg["image"] == "ghcr.io/lostops-stg5/lostops-app:2.3.4"


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "recorded, expected",
    [
        # the drift check's plain apply keeps the serving version AND its digest
        (f"ghcr.io/lostops-stg5/lostops-app:1.4.2@{DIGEST}", f"ghcr.io/lostops-stg5/lostops-app:1.4.2@{DIGEST}"),
        # a recorded image of another name/tag, or no digest, is not taken over
        (f"ghcr.io/evil/app:1.4.2@{DIGEST}", "ghcr.io/lostops-stg5/lostops-app:1.4.2"),
        ("ghcr.io/lostops-stg5/lostops-app:1.4.2@sha256:zz", "ghcr.io/lostops-stg5/lostops-app:1.4.2"),
    ],
)
def test_plain_apply_keeps_the_serving_version_and_digest(tmp_path, recorded, expected):
    (tmp_path / "deployed-version").write_text("1.4.2\n")
    (tmp_path / "deployed-image").write_text(recorded + "\n")
    pillar = json.dumps({"app": {"version": None, "state_dir": str(tmp_path)}})
    cfg = rollout_config(show_sls("backend", "app", pillar=pillar))
    assert cfg["version"] == "1.4.2"
    assert cfg["image"] == expected
    assert cfg["deployed_image_file"] == str(tmp_path / "deployed-image")


BAD_VERSIONS = [
    ("null", "app:version: missing and no version is deployed yet"),
    ('""', "app:version: missing and no version is deployed yet"),
    ('"1.2"', "app:version: 1.2 is not a release version X.Y.Z"),
    ('"v1.2.3"', "app:version: v1.2.3 is not a release version X.Y.Z"),
    ('"1.2.3-rc1"', "app:version: 1.2.3-rc1 is not a release version X.Y.Z"),
    ("1.5", "app:version: 1.5 is not a release version X.Y.Z"),
]


@pytest.mark.parametrize("value, message", BAD_VERSIONS)
def test_missing_or_invalid_version_fails_the_render(value, message):
    error = render_error("backend", "app", f'{{"app": {{"version": {value}}}}}')
    assert message in error.splitlines()[0]


def test_traefik_labels(highstate):
    cfg = rollout_config(highstate("backend"))
    labels = cfg["labels"]
    # Router and service per version: the old and the new container never
    # define the same names (Traefik drops names defined differently twice).
    r = "app-" + app_version().replace(".", "-")
    assert cfg["router"] == r
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.docker.network"] == "proxy"
    assert labels[f"traefik.http.routers.{r}.rule"] == "Host(`app.lostops.example.com`)"
    assert labels[f"traefik.http.routers.{r}.entrypoints"] == "websecure"
    assert labels[f"traefik.http.routers.{r}.tls"] == "true"
    assert labels[f"traefik.http.routers.{r}.tls.certresolver"] == "le"
    assert labels[f"traefik.http.routers.{r}.service"] == r
    # The real app's image: FROM php:7.4-apache, Apache on 80.
    assert labels[f"traefik.http.services.{r}.loadbalancer.server.port"] == "80"
    assert not any(k.startswith(("traefik.http.routers.app.", "traefik.http.services.app.")) for k in labels)
    assert cfg["network"] == "proxy"
    assert cfg["restart"] == "unless-stopped"


def test_router_names_differ_between_versions():
    one = rollout_config(show_sls("backend", "app", pillar='{"app": {"version": "1.2.3"}}'))
    two = rollout_config(show_sls("backend", "app", pillar='{"app": {"version": "1.2.4"}}'))
    assert (one["router"], two["router"]) == ("app-1-2-3", "app-1-2-4")
    names = [{k.split(".")[3] for k in cfg["labels"] if k.startswith("traefik.http.")} for cfg in (one, two)]
    assert names == [{"app-1-2-3"}, {"app-1-2-4"}]


def test_liveness_is_up_without_the_database_readiness_is_the_page(highstate):
    """Liveness (Docker health, so Traefik's routing): /up of the app image (app/up.php,
    no database). Readiness (the roll-out, before the old container stops): `/`, which
    needs the database. A database blip must not take the app off the router."""
    cfg = rollout_config(highstate("backend"))
    hc, ready = cfg["healthcheck"], cfg["ready"]
    assert hc["test"][:3] == ["CMD", "php", "-r"]
    assert "'http://127.0.0.1:80/up'" in hc["test"][3]
    assert "'timeout' => 4" in hc["test"][3]
    assert ready["test"][:2] == ["php", "-r"] and "'http://127.0.0.1:80/'" in ready["test"][2]
    assert ready["timeout"] == 60
    assert cfg["migrate"]["timeout"] == 300 and cfg["migrate"]["wait_seconds"] == 180
    up = (REPO / "app" / "up.php").read_text()
    assert "Counter" not in up and "DB::" not in up, "app/up.php must not need the database"
    assert "Alias /up /usr/local/share/lostops-app/up.php" in (REPO / "app/apache/lostops.conf").read_text()


def test_traefik_routes_only_healthy_containers(highstate):
    """Traefik's Docker provider skips containers whose health is not
    `healthy` unless allowEmptyServices is on (pkg/provider/docker/config.go):
    it must stay off, and the app must have a health check."""
    _, args = state(highstate("backend"), "traefik-config-static-file-serialize")
    assert not args["dataset"]["providers"]["docker"].get("allowEmptyServices")
    assert rollout_config(highstate("backend"))["healthcheck"]["test"]


def test_rollout_states_are_guarded(highstate):
    hs = highstate("backend")
    fun, deploy = state(hs, "app-rollout-deploy-cmd-run")
    assert fun == "cmd.run"
    assert deploy["name"] == "/usr/local/sbin/lostops-app-rollout deploy /etc/lostops/app/rollout.json"
    assert deploy["unless"] == "/usr/local/sbin/lostops-app-rollout check /etc/lostops/app/rollout.json"
    assert {"cmd": "app-migrations-cmd-run"} in deploy["require"]
    assert {"cmd": "traefik-network-proxy-cmd-run"} in deploy["require"]
    _, migrate = state(hs, "app-migrations-cmd-run")
    assert migrate["unless"] == f"test -e /var/lib/lostops/app/migrated-{app_version()}"
    _, pull = state(hs, "app-image-pull-cmd-run")
    assert pull["unless"].startswith("docker image inspect ghcr.io/lostops-stg5/lostops-app:")
    _, script = state(hs, "app-rollout-script-file-managed")
    assert script["source"] == "salt://app/files/lostops-app-rollout"
    assert script["mode"] == "0755"


def test_registry_login_uses_password_stdin(highstate):
    pillar = json.dumps(
        {
            "app": {"registry_user": "lostops-bot"},
            "secrets": {"registry_password": "ghp_not-a-real-token"},
        }
    )
    hs = show_sls("backend", "app", pillar=pillar)
    _, login = state(hs, "app-registry-login-cmd-run")
    assert (
        login["name"]
        == "docker login ghcr.io --username lostops-bot --password-stdin < /etc/lostops/app/registry-password"
    )
    assert "ghp_" not in json.dumps(hs)
    assert state(hs, "app-registry-password-file-managed")[1]["mode"] == "0600"
    assert state(highstate("backend"), "app-registry-password-file-absent")[0] == "file.absent"


def test_lab_app_image_with_migrations_no_resolver(highstate):
    # The lab app image (tests/lab/images/app.py) runs the production command,
    # health check and migrations unchanged.
    hs = highstate("backend", "lab")
    prod = rollout_config(highstate("backend", "example"))
    cfg = rollout_config(hs)
    assert cfg["image"] == "localhost/lostops-lab-app:lab"
    assert cfg["command"] == prod["command"]
    assert cfg["healthcheck"]["test"] == prod["healthcheck"]["test"]
    assert cfg["migrate"]["enabled"] is True
    assert cfg["migrate"]["command"] == prod["migrate"]["command"]
    r = cfg["router"]
    assert r == "app-" + cfg["version"].replace(".", "-")
    # ACME from the lab's Pebble (pillar/overrides/lab/traefik.sls): same resolver as production
    assert cfg["labels"][f"traefik.http.routers.{r}.tls.certresolver"] == "le"
    assert cfg["labels"][f"traefik.http.routers.{r}.rule"] == "Host(`app.lab.lostops.test`)"


def test_lab_per_version_override():
    pillar = '{"app": {"version": "9.9.9", "versions": {"9.9.9": {"command": ["sleep", "3600"]}}}}'
    cfg = rollout_config(show_sls("backend", "app", "lab", pillar))
    assert cfg["command"] == ["sleep", "3600"]
    assert cfg["version"] == "9.9.9"
    assert cfg["healthcheck"]["test"][:2] == ["CMD", "php"]


def test_pillar_example_renders():
    """salt/app/pillar.example is a complete, valid pillar for the formula."""
    example = yaml.safe_load((REPO / "salt" / "app" / "pillar.example").read_text())
    cfg = rollout_config(show_sls("backend", "app", pillar=json.dumps(example)))
    assert cfg["version"] == example["app"]["version"]


# --------------------------------------------------------------------------- roll-out script

FAKE_DOCKER = r'''#!/usr/bin/env python3
"""Test double for the docker CLI (NOT Docker): state in $FAKE_DOCKER_DIR."""
import json, os, sys
d = os.environ["FAKE_DOCKER_DIR"]
state_file = os.path.join(d, "state.json")
st = json.load(open(state_file)) if os.path.exists(state_file) else {"images": [], "containers": {}, "seq": 0}
args = sys.argv[1:]
with open(os.path.join(d, "calls.jsonl"), "a") as fh:
    fh.write(json.dumps(args) + "\n")

def save():
    json.dump(st, open(state_file, "w"))

def find(ref):
    for cid, c in st["containers"].items():
        if ref in (cid, c["name"]):
            return cid
    return None

def view(cid):
    c = st["containers"][cid]
    health = None
    if c["status"] == "running":
        if c["polls"] > 0:
            c["polls"] -= 1
            health = {"Status": "starting"}
        else:
            health = {"Status": c["final"]}
    return {"Id": cid, "Name": "/" + c["name"], "Config": {"Image": c["image"], "Labels": c["labels"]},
            "RestartCount": c.get("restarts", 0),
            "State": {"Status": c["status"], **({"Health": health} if health else {})}}

VALUE_FLAGS = {"--name", "--restart", "--network", "--env-file", "--volume", "-v", "--security-opt", "--label",
               "--health-cmd", "--health-interval", "--health-timeout", "--health-start-period", "--health-retries",
               "--filter", "--tail", "--time"}

def parse(rest):
    opts, pos, i = {}, [], 0
    while i < len(rest):
        a = rest[i]
        if a in VALUE_FLAGS:
            opts.setdefault(a, []).append(rest[i + 1]); i += 2
        elif a.startswith("-") and not pos:
            opts.setdefault(a, []).append(True); i += 1
        else:
            pos.append(a); i += 1
    return opts, pos

cmd, rest = args[0], args[1:]
if cmd == "image" and rest[0] == "inspect":
    sys.exit(0 if rest[1] in st["images"] else 1)
if cmd == "pull":
    st["images"].append(rest[0]); save(); print("pulled"); sys.exit(0)
if cmd == "ps":
    opts, _ = parse(rest)
    key, value = opts["--filter"][0][len("label="):].split("=", 1)
    for cid, c in st["containers"].items():
        if c["labels"].get(key) == value:
            print(cid)
    sys.exit(0)
if cmd == "inspect":
    found = [view(find(r)) for r in rest if find(r)]
    save()
    print(json.dumps(found))
    sys.exit(0 if len(found) == len(rest) else 1)
if cmd == "run":
    opts, pos = parse(rest)
    image, command = pos[0], pos[1:]
    if "--rm" in opts:
        import time
        time.sleep(float(os.environ.get("FAKE_DOCKER_RUN_RM_SLEEP", "0")))
        rc = int(os.environ.get("FAKE_DOCKER_RUN_RM_RC", "0"))
        print("fake one-off output: " + " ".join(command))
        sys.exit(rc)
    name = opts["--name"][0]
    if find(name):
        print("Conflict. The container name is already in use", file=sys.stderr); sys.exit(125)
    st["seq"] += 1
    cid = "c%04d" % st["seq"]
    labels = dict(l.split("=", 1) for l in opts.get("--label", []))
    st["containers"][cid] = {"name": name, "image": image, "labels": labels,
                             "status": os.environ.get("FAKE_DOCKER_NEW_STATE", "running"),
                             "restarts": int(os.environ.get("FAKE_DOCKER_NEW_RESTARTS", "0")),
                             "polls": int(os.environ.get("FAKE_DOCKER_STARTING_POLLS", "1")),
                             "final": os.environ.get("FAKE_DOCKER_NEW_HEALTH", "healthy"),
                             "command": command, "health_cmd": opts.get("--health-cmd", [None])[0]}
    save(); print(cid); sys.exit(0)
if cmd == "rename":
    cid = find(rest[0])
    if not cid: sys.exit(1)
    st["containers"][cid]["name"] = rest[1]; save(); sys.exit(0)
if cmd == "stop":
    _, pos = parse(rest)
    cid = find(pos[0])
    if not cid: sys.exit(1)
    st["containers"][cid]["status"] = "exited"; save(); sys.exit(0)
if cmd == "rm":
    _, pos = parse(rest)
    cid = find(pos[0])
    if not cid: sys.exit(1)
    del st["containers"][cid]; save(); sys.exit(0)
if cmd == "exec":
    cid = find(rest[0])
    if not cid or st["containers"][cid]["status"] != "running": sys.exit(1)
    rc = int(os.environ.get("FAKE_DOCKER_EXEC_RC", "0"))
    if rc: print("fake exec failure: " + " ".join(rest[1:]), file=sys.stderr)
    sys.exit(rc)
if cmd == "logs":
    _, pos = parse(rest)
    print("fake log line of " + pos[0]); print("fake error of " + pos[0], file=sys.stderr); sys.exit(0)
print("fake docker: unsupported " + " ".join(args), file=sys.stderr)
sys.exit(99)
'''


class Rig:
    """A temp dir with the fake docker on PATH, a config, env and CA files."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        fake = self.bin / "docker"
        # This interpreter directly (no pyenv shim, no site): dozens of calls per test.
        fake.write_text(FAKE_DOCKER.replace("#!/usr/bin/env python3", f"#!{sys.executable} -S", 1))
        fake.chmod(0o755)
        self.state_dir = tmp / "docker"
        self.state_dir.mkdir()
        self.env_file = tmp / "app.env"
        self.env_file.write_text("APP_KEY=x\n")
        self.ca = tmp / "ca.pem"
        self.ca.write_text("CA\n")
        self.config = tmp / "rollout.json"
        self.log = tmp / "log" / "app-rollout.log"
        self.env = {
            "FAKE_DOCKER_NEW_HEALTH": "healthy",
            "FAKE_DOCKER_STARTING_POLLS": "1",
        }

    def write_config(self, version: str, migrate: bool = False, **extra) -> None:
        cfg = {
            "name": "lostops-app",
            "version": version,
            "image": f"ghcr.io/x/app:{version}",
            "env_file": str(self.env_file),
            "mounts": [f"{self.ca}:/run/lostops/mysql-ca.pem:ro"],
            "network": "proxy",
            "labels": {
                "traefik.enable": "true",
                f"traefik.http.routers.app-{version.replace('.', '-')}.rule": "Host(`app.example`)",
                f"traefik.http.routers.app-{version.replace('.', '-')}.service": f"app-{version.replace('.', '-')}",
                f"traefik.http.services.app-{version.replace('.', '-')}.loadbalancer.server.port": "80",
            },
            "command": [],
            "healthcheck": {
                "test": ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8000/up"],
                "interval": "1s",
                "retries": 3,
            },
            "restart": "unless-stopped",
            "security_opt": ["no-new-privileges:true"],
            "migrate": {
                "enabled": migrate,
                "command": ["php", "artisan", "migrate", "--force"],
                "marker_dir": str(self.tmp / "markers"),
            },
            "health_timeout": 5,
            "poll_seconds": 0.01,
            "drain_seconds": 0,
            "stop_timeout": 1,
            "log_lines": 10,
            "log_file": str(self.log),
            "deployed_file": str(self.tmp / "deployed-version"),
            "deployed_image_file": str(self.tmp / "deployed-image"),
            "hash_files": [str(self.env_file), str(self.ca)],
        }
        cfg.update(extra)
        self.config.write_text(json.dumps(cfg))

    def add_image(self, ref: str) -> None:
        st = self.docker_state()
        st["images"].append(ref)
        (self.state_dir / "state.json").write_text(json.dumps(st))

    def docker_state(self) -> dict:
        path = self.state_dir / "state.json"
        return json.loads(path.read_text()) if path.exists() else {"images": [], "containers": {}, "seq": 0}

    def containers(self) -> dict:
        return {c["name"]: c for c in self.docker_state()["containers"].values()}

    def calls(self) -> list[list[str]]:
        path = self.state_dir / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def reset_calls(self) -> None:
        (self.state_dir / "calls.jsonl").unlink(missing_ok=True)

    def run(self, sub: str, **env) -> subprocess.CompletedProcess:
        full = {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "FAKE_DOCKER_DIR": str(self.state_dir),
            **self.env,
            **env,
        }
        # -S: no site-packages, as on a host (the script needs the standard library only); starts faster.
        return subprocess.run(
            [sys.executable, "-S", str(ROLLOUT), sub, str(self.config)],
            capture_output=True,
            text=True,
            env=full,
            timeout=60,
            check=False,
        )


def index(calls: list[list[str]], *prefix: str) -> int:
    for i, call in enumerate(calls):
        if call[: len(prefix)] == list(prefix):
            return i
    raise AssertionError(f"no call {' '.join(prefix)} in {calls}")


def has(calls, *prefix) -> bool:
    return any(call[: len(prefix)] == list(prefix) for call in calls)


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


def test_rollout_script_compiles():
    py_compile.compile(str(ROLLOUT), doraise=True, cfile=os.path.join(tempfile.mkdtemp(), "x.pyc"))


def test_first_deploy_pulls_starts_and_waits_healthy(rig):
    rig.write_config("1.0.0")
    assert rig.run("check").returncode == 1
    proc = rig.run("deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = rig.calls()
    assert (
        index(calls, "image", "inspect") < index(calls, "pull", "ghcr.io/x/app:1.0.0") < index(calls, "run", "--detach")
    )
    run = calls[index(calls, "run", "--detach")]
    for expected in (
        ["--name", "lostops-app-1.0.0"],
        ["--network", "proxy"],
        ["--restart", "unless-stopped"],
        ["--env-file", str(rig.env_file)],
        ["--label", "traefik.enable=true"],
        ["--label", "lostops.app.version=1.0.0"],
        ["--health-cmd", "wget -q -O- http://127.0.0.1:8000/up"],
    ):
        assert any(run[i : i + 2] == expected for i in range(len(run))), (expected, run)
    assert run[-1] == "ghcr.io/x/app:1.0.0"
    assert list(rig.containers()) == ["lostops-app-1.0.0"]
    assert rig.run("check").returncode == 0


def test_second_deploy_is_a_no_op(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.reset_calls()
    assert rig.run("check").returncode == 0
    proc = rig.run("deploy")
    assert proc.returncode == 0
    assert not has(rig.calls(), "run") and not has(rig.calls(), "pull")


def test_upgrade_removes_old_only_after_new_is_healthy(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.write_config("1.1.0")
    rig.add_image("ghcr.io/x/app:1.1.0")  # present locally: no pull
    rig.reset_calls()
    proc = rig.run("deploy", FAKE_DOCKER_STARTING_POLLS="3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = rig.calls()
    assert not has(calls, "pull")
    started = index(calls, "run", "--detach")
    stopped = index(calls, "stop", "--time", "1", "lostops-app-1.0.0")
    removed = index(calls, "rm", "--force", "lostops-app-1.0.0")
    polls = [i for i, c in enumerate(calls) if c == ["inspect", "lostops-app-1.1.0"]]
    assert len(polls) == 4, "3 x starting, then healthy"
    assert started < polls[-1] < stopped < removed
    assert not has(calls[: polls[-1]], "stop")
    assert list(rig.containers()) == ["lostops-app-1.1.0"]
    assert "roll-out of 1.1.0 done" in proc.stdout
    assert rig.run("check").returncode == 0
    assert (rig.tmp / "deployed-version").read_text() == "1.1.0\n", "a plain apply keeps serving 1.1.0"
    assert (rig.tmp / "deployed-image").read_text() == "ghcr.io/x/app:1.1.0\n", "and its image"


def test_unhealthy_new_version_is_rolled_back(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.write_config("1.1.0")
    rig.reset_calls()
    proc = rig.run("deploy", FAKE_DOCKER_NEW_HEALTH="unhealthy")
    assert proc.returncode != 0
    calls = rig.calls()
    assert (
        index(calls, "run", "--detach")
        < index(calls, "logs", "--tail", "10", "lostops-app-1.1.0")
        < index(calls, "rm", "--force", "lostops-app-1.1.0")
    )
    assert not has(calls, "stop"), "the old container is never stopped"
    assert not has(calls, "rm", "--force", "lostops-app-1.0.0")
    containers = rig.containers()
    assert list(containers) == ["lostops-app-1.0.0"]
    assert containers["lostops-app-1.0.0"]["status"] == "running"
    assert "fake log line of lostops-app-1.1.0" in proc.stdout
    assert "fake error of lostops-app-1.1.0" in proc.stdout
    assert "roll-out of 1.1.0 failed (unhealthy)" in proc.stderr
    assert "still serving: lostops-app-1.0.0" in proc.stderr
    log = rig.log.read_text()
    assert "fake log line of lostops-app-1.1.0" in log and "ROLL-BACK" in log
    assert rig.run("check").returncode == 1, "the next apply tries again"
    assert (rig.tmp / "deployed-version").read_text() == "1.0.0\n", "still the serving version"


READY = {"test": ["php", "-r", "fetch /"], "timeout": 0.3}


def test_ready_checked_in_the_new_container_before_the_old_stops(rig):
    rig.write_config("1.0.0", ready=READY)
    assert rig.run("deploy").returncode == 0
    rig.write_config("1.1.0", ready=READY)
    rig.reset_calls()
    assert rig.run("deploy").returncode == 0
    calls = rig.calls()
    assert (
        index(calls, "run", "--detach")
        < index(calls, "exec", "lostops-app-1.1.0", "php", "-r", "fetch /")
        < index(calls, "stop", "--time", "1", "lostops-app-1.0.0")
    )


def test_not_ready_new_version_is_rolled_back_old_keeps_serving(rig):
    """Healthy (liveness) but its database page fails: roll-back, the old one serves on."""
    rig.write_config("1.0.0", ready=READY)
    assert rig.run("deploy").returncode == 0
    rig.write_config("1.1.0", ready=READY)
    proc = rig.run("deploy", FAKE_DOCKER_EXEC_RC="1")
    assert proc.returncode != 0
    assert "roll-out of 1.1.0 failed (not ready after 0.3s" in proc.stderr
    assert list(rig.containers()) == ["lostops-app-1.0.0"]
    assert rig.containers()["lostops-app-1.0.0"]["status"] == "running"


def test_failing_migration_is_retried_within_its_wait(rig):
    """First converge: the database may create the app's account after the backend starts
    migrating; a failing one-off is retried until migrate.wait_seconds, then fails."""
    rig.write_config("1.0.0", migrate=True)
    cfg = json.loads(rig.config.read_text())
    cfg["migrate"].update(wait_seconds=0.5, retry_seconds=0.1)
    rig.config.write_text(json.dumps(cfg))
    proc = rig.run("deploy", FAKE_DOCKER_RUN_RM_RC="1")
    assert proc.returncode != 0
    runs = [c for c in rig.calls() if c[:2] == ["run", "--rm"]]
    assert 3 <= len(runs) <= 7, len(runs)
    assert "retrying in 0.1s" in proc.stdout
    assert not rig.containers(), "nothing was started"


def test_hung_migration_is_stopped_and_switches_nothing(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.write_config("1.1.0", migrate=True)
    rig.env["FAKE_DOCKER_RUN_RM_SLEEP"] = "5"
    cfg = json.loads(rig.config.read_text())
    cfg["migrate"]["timeout"] = 0.5
    rig.config.write_text(json.dumps(cfg))
    rig.reset_calls()
    proc = rig.run("deploy")
    assert proc.returncode != 0
    assert "migrations of 1.1.0 did not finish within 0.5s" in proc.stderr
    calls = rig.calls()
    assert has(calls, "rm", "--force", "lostops-app-migrate-1.1.0")
    assert not has(calls, "run", "--detach"), "nothing was started"
    assert list(rig.containers()) == ["lostops-app-1.0.0"]


def test_health_timeout_is_rolled_back(rig):
    rig.write_config("1.0.0", health_timeout=0.3)
    proc = rig.run("deploy", FAKE_DOCKER_STARTING_POLLS="100000")
    assert proc.returncode != 0
    assert "not healthy after 0.3s (last status: starting)" in proc.stderr
    assert rig.containers() == {}


def test_migrations_run_once_before_the_new_container(rig):
    rig.write_config("1.0.0", migrate=True)
    proc = rig.run("deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = rig.calls()
    migrate = index(calls, "run", "--rm", "--name", "lostops-app-migrate-1.0.0")
    assert calls[migrate][-5:] == [
        "ghcr.io/x/app:1.0.0",
        "php",
        "artisan",
        "migrate",
        "--force",
    ]
    assert "--env-file" in calls[migrate]
    assert migrate < index(calls, "run", "--detach")
    assert (rig.tmp / "markers" / "migrated-1.0.0").exists()
    rig.reset_calls()
    assert rig.run("migrate").returncode == 0
    assert not has(rig.calls(), "run")


def test_failed_migration_switches_nothing(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.write_config("1.1.0", migrate=True)
    rig.reset_calls()
    proc = rig.run("deploy", FAKE_DOCKER_RUN_RM_RC="1")
    assert proc.returncode != 0
    assert "migrations of 1.1.0 failed" in proc.stderr
    assert not has(rig.calls(), "run", "--detach")
    assert list(rig.containers()) == ["lostops-app-1.0.0"]
    assert not (rig.tmp / "markers" / "migrated-1.1.0").exists()


def test_same_version_with_changed_env_is_replaced(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.env_file.write_text("APP_KEY=rotated\n")
    assert rig.run("check").returncode == 1
    rig.reset_calls()
    proc = rig.run("deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = rig.calls()
    renamed = calls[index(calls, "rename", "lostops-app-1.0.0")][2]
    assert renamed.startswith("lostops-app-1.0.0-prev-")
    assert index(calls, "rename") < index(calls, "run", "--detach") < index(calls, "stop", "--time", "1", renamed)
    assert list(rig.containers()) == ["lostops-app-1.0.0"]
    assert rig.run("check").returncode == 0


def test_same_version_failure_renames_the_old_back(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.env_file.write_text("APP_KEY=broken\n")
    proc = rig.run("deploy", FAKE_DOCKER_NEW_HEALTH="unhealthy")
    assert proc.returncode != 0
    containers = rig.containers()
    assert list(containers) == ["lostops-app-1.0.0"]
    assert containers["lostops-app-1.0.0"]["status"] == "running"
    assert containers["lostops-app-1.0.0"]["labels"]["lostops.app.config-hash"]


def test_command_override_is_passed_after_the_image(rig):
    rig.write_config("9.9.9", command=["sleep", "3600"])
    proc = rig.run("deploy", FAKE_DOCKER_NEW_HEALTH="unhealthy")
    assert proc.returncode != 0
    run = rig.calls()[index(rig.calls(), "run", "--detach")]
    assert run[-3:] == ["ghcr.io/x/app:9.9.9", "sleep", "3600"]
    assert rig.containers() == {}


def traefik_labels_of(rig, name: str) -> dict:
    return {k: v for k, v in rig.containers()[name]["labels"].items() if k.startswith("traefik.http.")}


def test_upgrade_each_version_its_own_router_the_newest_has_priority(rig):
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    old = traefik_labels_of(rig, "lostops-app-1.0.0")
    rig.write_config("1.1.0")
    proc = rig.run("deploy", FAKE_DOCKER_STARTING_POLLS="2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    new = traefik_labels_of(rig, "lostops-app-1.1.0")
    assert new["traefik.http.routers.app-1-1-0.service"] == "app-1-1-0"
    assert new["traefik.http.services.app-1-1-0.loadbalancer.server.port"] == "80"
    names = [{k.split(".")[3] for k in labels} for labels in (old, new)]
    assert names == [{"app-1-0-0"}, {"app-1-1-0"}], "no router/service shared by old and new"
    assert int(new["traefik.http.routers.app-1-1-0.priority"]) >= int(old["traefik.http.routers.app-1-0-0.priority"])


def test_same_version_again_gets_unique_router_and_service_names(rig):
    """Old (renamed) and new container of one version run side by side: the
    new one must not define the old one's router/service differently."""
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.env_file.write_text("APP_KEY=rotated\n")
    calls_before = len(rig.calls())
    proc = rig.run("deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = rig.calls()[calls_before:][index(rig.calls()[calls_before:], "run", "--detach")]
    labels = dict(run[i + 1].split("=", 1) for i, a in enumerate(run) if a == "--label")
    routers = {k.split(".")[3] for k in labels if k.startswith("traefik.http.routers.")}
    services = {k.split(".")[3] for k in labels if k.startswith("traefik.http.services.")}
    assert len(routers) == 1 and routers == services
    (name,) = routers
    assert re.fullmatch(r"app-1-0-0-r\d+", name), name
    assert labels[f"traefik.http.routers.{name}.service"] == name
    assert labels[f"traefik.http.routers.{name}.priority"] == name.rsplit("-r", 1)[1]
    assert labels[f"traefik.http.routers.{name}.rule"] == "Host(`app.example`)"


def test_crash_looping_new_container_fails_at_once(rig):
    """docker state `restarting` (a crash loop): roll back now, not after health_timeout."""
    rig.write_config("1.0.0")
    assert rig.run("deploy").returncode == 0
    rig.write_config("1.1.0", health_timeout=30)
    began = time.monotonic()
    proc = rig.run("deploy", FAKE_DOCKER_NEW_STATE="restarting", FAKE_DOCKER_STARTING_POLLS="0")
    assert time.monotonic() - began < 10, "waited for the health timeout"
    assert proc.returncode == 1
    assert "roll-out of 1.1.0 failed (restarting)" in proc.stderr
    assert "fake log line of lostops-app-1.1.0" in proc.stdout
    assert list(rig.containers()) == ["lostops-app-1.0.0"]
    assert rig.containers()["lostops-app-1.0.0"]["status"] == "running"


def test_restarted_new_container_fails_at_once(rig):
    """A poll may fall between two crashes and see `running`/`starting`: RestartCount > 0 is enough."""
    rig.write_config("1.1.0", health_timeout=30)
    began = time.monotonic()
    proc = rig.run("deploy", FAKE_DOCKER_NEW_RESTARTS="2", FAKE_DOCKER_STARTING_POLLS="100000")
    assert time.monotonic() - began < 10, "waited for the health timeout"
    assert proc.returncode == 1
    assert "failed (restarting (restarted 2 times, last status: starting))" in proc.stderr
    assert rig.containers() == {}
