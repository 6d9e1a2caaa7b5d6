"""The monitoring formula (salt/monitoring), rendered through Salt.

The session's render of the `monitoring` minion per inventory (example, lab;
tests/unit/saltcall.py: Salt's own loader, the real pillar, the target OS
grains): its highstate, its pillar, and every templated file.managed /
file.recurse through file.get_managed with the state's own context (what
file.managed does on the host). The assertions read the rendered
compose file, prometheus.yml, alertmanager.yml and Grafana provisioning, and
run the real promtool/amtool on them (missing tools FAIL, they do not skip).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lostops import inventory as inv_mod
from lostops import policy
from tests.unit import composemerge, formula_params
from tests.unit.saltcall import RENDERS

REPO = Path(__file__).resolve().parents[2]
FORMULA = REPO / "salt" / "monitoring"
RULES_DIR = FORMULA / "files" / "prometheus" / "rules"
DASHBOARDS_DIR = FORMULA / "files" / "grafana" / "dashboards"
PROMTOOL_TESTS = REPO / "tests" / "promtool"
SECRETS_EXAMPLE = REPO / "pillar" / "secrets.yaml.example"
INVENTORIES = ["example", "lab"]

CFG = "/etc/lostops/monitoring"
# Rendered files (destination path on the host) by short name.
TEMPLATES = {
    "compose": "/opt/lostops/monitoring/compose.yaml",
    "prometheus": f"{CFG}/prometheus/prometheus.yml",
    "alertmanager": f"{CFG}/alertmanager/alertmanager.yml",
    "datasources": f"{CFG}/grafana/provisioning/datasources/datasources.yaml",
    "dashboards": f"{CFG}/grafana/provisioning/dashboards/dashboards.yaml",
    "alerting": f"{CFG}/grafana/provisioning/alerting/discord.yaml",
}


@functools.cache
def rendered(inventory: str) -> dict:
    """The monitoring host's session render (highstate, pillar, files), the templates by short name."""
    result = RENDERS.result("monitoring", inventory)
    out = {"show_sls": result["highstate"], "pillar": result["pillar"], "files": {}}
    for name, item in result["files"].items():
        out["files"][name] = item["contents"]
    for key, path in TEMPLATES.items():
        assert path in out["files"], f"{key}: {path} not rendered ({sorted(out['files'])})"
        out[key] = out["files"][path]
    return out


def doc(inventory: str, key: str) -> dict:
    return yaml.safe_load(rendered(inventory)[key])


def state(inventory: str, state_id: str) -> tuple[str, dict]:
    """(module.function, {arg: value}) of one rendered state."""
    body = rendered(inventory)["show_sls"][state_id]
    for module, items in body.items():
        if module.startswith("__"):
            continue
        args, function = {}, None
        for item in items:
            if isinstance(item, str):
                function = item
            else:
                args.update(item)
        return f"{module}.{function}", args
    raise AssertionError(f"{state_id}: no state function")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)"
    return path


def version(name: str) -> tuple[int, ...]:
    out = subprocess.run([tool(name), "--version"], capture_output=True, text=True)
    m = re.search(r"version (\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    assert m, out
    return tuple(int(x) for x in m.groups())


def scrape_jobs_of(inventory: str) -> list[dict]:
    return policy.scrape_jobs(inv_mod.load(inventory))


def host_dns(inventory: str) -> list[str]:
    return rendered(inventory)["pillar"]["lostops"]["host"]["dns"]


# --------------------------------------------------------------------------- compose


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_compose_services_publish_no_port(inventory):
    compose = doc(inventory, "compose")
    assert set(compose["services"]) == {"prometheus", "alertmanager", "grafana"}
    for name, svc in compose["services"].items():
        assert "ports" not in svc, f"{name} publishes ports"
        assert svc.get("network_mode") is None, name
    assert compose["networks"]["proxy"] == {"external": True}
    assert not compose["networks"]["monitoring"].get("external")
    assert "proxy" not in compose["services"]["alertmanager"]["networks"]
    for name in ("prometheus", "grafana"):
        assert set(compose["services"][name]["networks"]) == {"monitoring", "proxy"}


def test_compose_images_pinned_and_data_owned_by_container_users():
    compose = doc("example", "compose")
    images = rendered("example")["pillar"]["images"]
    for name in ("prometheus", "alertmanager", "grafana"):
        svc = compose["services"][name]
        assert svc["image"] == f"{images[name]['name']}:{images[name]['tag']}"
        assert not svc["image"].endswith(":latest")
        assert svc["restart"] == "unless-stopped"
    assert compose["services"]["prometheus"]["user"] == "65534:65534"
    assert compose["services"]["grafana"]["user"] == "472:472"
    for svc, uid in (("prometheus", 65534), ("alertmanager", 65534), ("grafana", 472)):
        fn, args = state("example", f"monitoring-{svc}-data-dir-file-directory")
        assert fn == "file.directory"
        assert args["name"] == f"/srv/lostops/monitoring/{svc}"
        assert (args["user"], args["group"]) == (uid, uid)


def test_prometheus_retention_flags_from_pillar():
    pillar = rendered("example")["pillar"]["monitoring"]["prometheus"]
    command = doc("example", "compose")["services"]["prometheus"]["command"]
    assert f"--storage.tsdb.retention.time={pillar['retention_time']}" in command
    assert f"--storage.tsdb.retention.size={pillar['retention_size']}" in command
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


def test_compose_project_requires_proxy_network_and_configs():
    fn, args = state("example", "monitoring-compose-up-cmd-run")
    assert fn == "cmd.run"
    assert {"cmd": "traefik-network-proxy-cmd-run"} in args["require"]
    for sid in (
        "monitoring-prometheus-config-file-managed",
        "monitoring-alertmanager-config-file-managed",
        "monitoring-alertmanager-discord-secret-file-managed",
        "monitoring-grafana-provisioning-dir-file-recurse",
    ):
        assert {"file": sid} in args["require"], sid


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_config_changes_reload_the_right_service(inventory):
    fn, args = state(inventory, "monitoring-prometheus-reload-cmd-run")
    # from inside: `docker kill` would make unless-stopped skip it after a reboot
    assert "exec -T prometheus kill -HUP 1" in args["name"] and " kill -s " not in args["name"]
    assert {"file": "monitoring-prometheus-rules-dir-file-recurse"} in args["onchanges"]
    fn, args = state(inventory, "monitoring-alertmanager-reload-cmd-run")
    assert "exec -T alertmanager kill -HUP 1" in args["name"] and " kill -s " not in args["name"]
    fn, args = state(inventory, "monitoring-grafana-restart-cmd-run")
    assert args["name"].endswith("restart grafana")
    # promtool/amtool run in the real images, also in the lab (tests/lab/images/);
    # Grafana is the lab's stand-in there: no grafana-cli, so no password reset.
    assert "promtool check config" in state(inventory, "monitoring-prometheus-reload-cmd-run")[1]["name"]
    assert "amtool check-config" in state(inventory, "monitoring-alertmanager-reload-cmd-run")[1]["name"]
    real = inventory == "example"
    assert ("monitoring-grafana-admin-password-reset-cmd-run" in rendered(inventory)["show_sls"]) is real


def test_lab_runs_the_real_prometheus_and_alertmanager_and_the_standin_for_grafana():
    # The stand-in's command comes from the lab pillar as a compose override
    # file (monitoring:compose_override), merged over compose.yaml as compose does.
    override = rendered("lab")["pillar"]["monitoring"]["compose_override"]
    compose = composemerge.merge(doc("lab", "compose"), override)
    assert "command" not in doc("lab", "compose")["services"]["grafana"], "no lab hook in the production template"
    prod = doc("example", "compose")
    for name in ("prometheus", "alertmanager"):
        svc = compose["services"][name]
        assert svc["image"] == f"localhost/lostops-lab-{name}:lab"
        assert [a.split("=")[0] for a in svc["command"]] == [a.split("=")[0] for a in prod["services"][name]["command"]]
        assert svc["healthcheck"]["test"] == prod["services"][name]["healthcheck"]["test"]
        assert "ports" not in svc
    for name, port in (("grafana", 3000),):
        svc = compose["services"][name]
        assert svc["image"] == "localhost/lostops-standin:lab"
        assert svc["command"][:3] == ["busybox", "httpd", "-f"]
        assert f"0.0.0.0:{port}" in svc["command"]
        assert svc["healthcheck"]["test"] == ["CMD", "wget", "-q", "-O-", f"http://127.0.0.1:{port}/"]
        assert "ports" not in svc


def test_lab_delivers_alerts_to_its_discord_stand_in_with_production_rules():
    # The e2e alert test (tests/e2e/test_11_alerts.py): in the lab, discord.com is
    # the outer machine's receiver (one extra_hosts line in the compose override);
    # only the timings are shortened (group_wait/group_interval, scrape and
    # evaluation intervals: pillar/overrides/lab/monitoring.sls); the route
    # otherwise, the receiver (secret file, send_resolved) and the rule files are
    # production's. Production has no override.
    override = rendered("lab")["pillar"]["monitoring"]["compose_override"]
    compose = composemerge.merge(doc("lab", "compose"), override)
    assert compose["services"]["alertmanager"]["extra_hosts"] == ["discord.com:10.77.0.1"]
    assert rendered("example")["pillar"]["monitoring"].get("compose_override", {}) == {}
    assert "extra_hosts" not in doc("example", "compose")["services"]["alertmanager"]
    lab, prod = doc("lab", "alertmanager"), doc("example", "alertmanager")
    timings = ("group_wait", "group_interval")
    assert [lab["route"][k] for k in timings] == ["10s", "10s"]
    assert [prod["route"][k] for k in timings] == ["30s", "5m"]
    assert {k: v for k, v in lab["route"].items() if k not in timings} == {
        k: v for k, v in prod["route"].items() if k not in timings
    }
    assert lab["receivers"] == prod["receivers"]
    lab_p, prod_p = doc("lab", "prometheus"), doc("example", "prometheus")
    intervals = ("scrape_interval", "evaluation_interval")
    assert [lab_p["global"][k] for k in intervals] == ["10s", "10s"]
    assert [prod_p["global"][k] for k in intervals] == ["30s", "30s"]
    assert lab_p["rule_files"] == prod_p["rule_files"]


# --------------------------------------------------------------------------- Traefik exposure


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_traefik_routes_grafana_and_prometheus_names(inventory):
    services = doc(inventory, "compose")["services"]
    dns = host_dns(inventory)
    acme = rendered(inventory)["pillar"].get("traefik", {}).get("acme", {}).get("enabled", True)
    for name in ("grafana", "prometheus"):
        fqdn = next(d for d in dns if d.startswith(name + "."))
        labels = services[name]["labels"]
        router = f"traefik.http.routers.monitoring-{name}"
        assert labels["traefik.enable"] == "true"
        assert labels["traefik.docker.network"] == "proxy"
        # Grafana answers /metrics before its login (no metrics basic auth): not routed.
        private = " && !PathPrefix(`/metrics`)" if name == "grafana" else ""
        assert labels[f"{router}.rule"] == f"Host(`{fqdn}`)" + private
        assert labels[f"{router}.entrypoints"] == "websecure"
        assert labels[f"{router}.tls"] == "true"
        assert (labels.get(f"{router}.tls.certresolver") == "le") is acme
        assert "security-headers@file" in labels[f"{router}.middlewares"].split(",")
    assert services["alertmanager"]["labels"] == {"traefik.enable": "false"}
    env = services["grafana"]["environment"]
    assert env["GF_SERVER_ROOT_URL"] == "https://" + next(d for d in dns if d.startswith("grafana.")) + "/"


def test_lab_uses_acme_against_pebble():
    # The lab obtains certificates from its Pebble (pillar/overrides/lab/traefik.sls).
    acme = rendered("lab")["pillar"]["traefik"]["acme"]
    assert acme.get("enabled", True) is True
    assert acme["ca_servers"]["production"] == "https://10.77.0.1:14000/dir"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_prometheus_behind_basic_auth_with_escaped_dollars(inventory):
    labels = doc(inventory, "compose")["services"]["prometheus"]["labels"]
    middlewares = labels["traefik.http.routers.monitoring-prometheus.middlewares"].split(",")
    assert middlewares[0] == "monitoring-prometheus-auth@docker"
    users = labels["traefik.http.middlewares.monitoring-prometheus-auth.basicauth.users"]
    secret = rendered(inventory)["pillar"]["secrets"]["prometheus_basic_auth"]
    assert "$" in secret
    assert users == secret.replace("$", "$$")
    assert re.search(r"(?<!\$)\$(?!\$)", users) is None, "a single $ would be interpolated by compose"
    assert "basicauth" not in " ".join(doc(inventory, "compose")["services"]["grafana"]["labels"])


def test_grafana_security_settings_and_admin_password_file():
    compose = doc("example", "compose")
    env = compose["services"]["grafana"]["environment"]
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana/admin_password"
    assert (
        "/etc/lostops/monitoring/grafana/secrets:/run/secrets/grafana:ro" in compose["services"]["grafana"]["volumes"]
    )
    secret = rendered("example")["pillar"]["secrets"]["grafana_admin_password"]
    assert secret not in rendered("example")["compose"]
    fn, args = state("example", "monitoring-grafana-admin-password-secret-file-managed")
    assert (fn, args["contents_pillar"], args["mode"], args["group"]) == (
        "file.managed",
        "secrets:grafana_admin_password",
        "0640",
        472,
    )
    assert args["name"] == "/etc/lostops/monitoring/grafana/secrets/admin_password"


# --------------------------------------------------------------------------- Prometheus


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_scrape_targets_are_exactly_the_inventory_targets(inventory):
    config = doc(inventory, "prometheus")
    expected = {
        (job["job"], t["address"], t["host"], t["role"]) for job in scrape_jobs_of(inventory) for t in job["targets"]
    }
    assert expected, "the inventory has scrape targets"
    got = set()
    inventory_jobs = {job["job"] for job in scrape_jobs_of(inventory)}
    for sc in config["scrape_configs"]:
        if sc["job_name"] not in inventory_jobs:
            continue
        for static in sc["static_configs"]:
            for target in static["targets"]:
                got.add((sc["job_name"], target, static["labels"]["host"], static["labels"]["role"]))
    assert got == expected
    private = {h["private_ip"] for h in rendered(inventory)["pillar"]["lostops"]["hosts"].values()}
    assert {addr.split(":")[0] for _, addr, _, _ in got} <= private


def test_prometheus_self_scrape_rules_and_alertmanager():
    config = doc("example", "prometheus")
    jobs = {sc["job_name"]: sc for sc in config["scrape_configs"]}
    assert jobs["prometheus"]["static_configs"][0]["targets"] == ["localhost:9090"]
    assert jobs["alertmanager"]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert jobs["grafana"]["static_configs"][0]["targets"] == ["grafana:3000"]
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert (
        "/etc/lostops/monitoring/prometheus:/etc/prometheus:ro"
        in doc("example", "compose")["services"]["prometheus"]["volumes"]
    )


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_promtool_check_config_on_rendered_file(inventory, tmp_path):
    # Laid out as on the host: /etc/prometheus/prometheus.yml + rules/*.yml.
    (tmp_path / "prometheus.yml").write_text(rendered(inventory)["prometheus"])
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    proc = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(list(RULES_DIR.glob('*.yml')))} rule files found" in proc.stdout + proc.stderr


def test_promtool_check_rules():
    proc = subprocess.run(
        [tool("promtool"), "check", "rules", *map(str, sorted(RULES_DIR.glob("*.yml")))], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _alert_rules() -> dict[str, dict]:
    rules = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                rules[rule["alert"]] = rule
    return rules


def test_alert_rules_have_for_severity_and_annotations():
    rules = _alert_rules()
    assert {
        "InstanceDown",
        "HostHighCpu",
        "HostHighMemory",
        "HostLowDiskSpace",
        "MySQLDown",
        "ContainerRestarting",
        "TraefikHigh5xxRatio",
        "TLSCertificateExpiringSoon",
    } <= set(rules)
    assert {
        "AlertmanagerNotificationsFailing",
        "PrometheusAlertmanagerUnreachable",
        "PrometheusRuleEvaluationFailing",
        "PrometheusConfigReloadFailed",
        "AlertmanagerConfigReloadFailed",
        "Watchdog",
        "HostDiskWillFillIn24h",
        "HostClockNotSynchronised",
        "TraefikAppNoHealthyServer",
        "MySQLConnectionsNearLimit",
    } <= set(rules)
    for name, rule in rules.items():
        assert "for" in rule, name
        # the dead man's switch is no problem to act on: routed to its own receiver
        want = ("none",) if name == "Watchdog" else ("warning", "critical")
        assert rule["labels"]["severity"] in want, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    assert "aufs" not in rules["HostLowDiskSpace"]["expr"]
    for fstype in ("tmpfs", "overlay", "squashfs"):
        assert fstype in rules["HostLowDiskSpace"]["expr"]


def test_promtool_test_rules_fire_and_quiet_for_every_alert():
    files = sorted(PROMTOOL_TESTS.glob("*.test.yml"))
    assert files
    proc = subprocess.run(
        [tool("promtool"), "test", "rules", *map(str, files)], capture_output=True, text=True, cwd=PROMTOOL_TESTS
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fires, quiet = set(), set()
    for path in files:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(_alert_rules())
    assert alerts <= fires, f"no firing case for {alerts - fires}"
    always = {name for name, rule in _alert_rules().items() if rule["expr"].strip() == "vector(1)"}
    assert always == {"Watchdog"}
    assert alerts - always <= quiet, f"no non-firing case for {alerts - always - quiet}"


# --------------------------------------------------------------------------- Alertmanager


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_alertmanager_discord_receiver_url_not_inline(inventory):
    text = rendered(inventory)["alertmanager"]
    config = yaml.safe_load(text)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["receiver"] == "discord"
    discord = receivers["discord"]["discord_configs"][0]
    assert "webhook_url" not in discord
    assert discord["webhook_url_file"] == "/etc/alertmanager/discord_webhook_url"
    url = rendered(inventory)["pillar"]["secrets"]["discord_webhook_url"]
    assert url not in text and "discord.com/api/webhooks" not in text
    fn, args = state(inventory, "monitoring-alertmanager-discord-secret-file-managed")
    assert (fn, args["contents_pillar"], args["mode"], args["group"]) == (
        "file.managed",
        "secrets:discord_webhook_url",
        "0640",
        65534,
    )
    # The secret file lies in the directory mounted at /etc/alertmanager.
    assert args["name"] == "/etc/lostops/monitoring/alertmanager/discord_webhook_url"
    assert (
        "/etc/lostops/monitoring/alertmanager:/etc/alertmanager:ro"
        in doc(inventory, "compose")["services"]["alertmanager"]["volumes"]
    )
    params = formula_params.merge(formula_params.defaults("monitoring"), rendered(inventory)["pillar"]["monitoring"])
    route = params["alertmanager"]["route"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert config["route"][key] == route[key]
    inhibit = config["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']


# `discord_configs.webhook_url_file` arrived in Alertmanager 0.27.0 (0.26.0 had
# `webhook_url` only; prometheus/alertmanager config/notifiers.go DiscordConfig).
WEBHOOK_URL_FILE_SINCE = (0, 27, 0)


def test_webhook_url_file_version_is_stated_right_and_the_pin_has_it():
    tag = rendered("example")["pillar"]["images"]["alertmanager"]["tag"]
    assert tuple(int(x) for x in tag.lstrip("v").split(".")) >= WEBHOOK_URL_FILE_SINCE, tag
    since = ".".join(map(str, WEBHOOK_URL_FILE_SINCE[:2]))
    for path in ("docs/monitoring.md", "salt/monitoring/files/alertmanager/alertmanager.yml.jinja"):
        text = (REPO / path).read_text(encoding="utf-8")
        stated = set(re.findall(r"(?:≥|>=|older than)\s*(0\.\d+)", text))
        assert stated == {since}, f"{path} states webhook_url_file since {stated}, want {since}"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_amtool_check_config(inventory, tmp_path):
    """amtool check-config on the rendered alertmanager.yml.

    `discord_configs.webhook_url_file` exists since Alertmanager 0.27.0 (the
    pinned image is newer). Debian 12's amtool is 0.25.0 and rejects the key,
    so with an older amtool the check runs on a copy where that one key is
    replaced by an inline dummy URL; everything else is checked as rendered.
    """
    text = rendered(inventory)["alertmanager"]
    secret = tmp_path / "discord_webhook_url"
    secret.write_text("https://discord.com/api/webhooks/0/unit-test")
    if version("amtool") >= WEBHOOK_URL_FILE_SINCE:
        text = text.replace("/etc/alertmanager/discord_webhook_url", str(secret))
    else:
        text, n = re.subn(r"webhook_url_file: \S+", "webhook_url: https://discord.com/api/webhooks/0/unit-test", text)
        assert n == 1
    (tmp_path / "alertmanager.yml").write_text(text)
    proc = subprocess.run(
        [tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 receivers" in proc.stdout and "1 inhibit rules" in proc.stdout  # discord, watchdog


# --------------------------------------------------------------------------- Grafana


def test_grafana_datasources_provisioned_with_fixed_uids():
    ds = {d["name"]: d for d in doc("example", "datasources")["datasources"]}
    assert ds["Prometheus"]["type"] == "prometheus" and ds["Prometheus"]["uid"] == "prometheus"
    assert ds["Prometheus"]["url"] == "http://prometheus:9090"
    assert ds["Alertmanager"]["type"] == "alertmanager" and ds["Alertmanager"]["uid"] == "alertmanager"
    assert ds["Alertmanager"]["url"] == "http://alertmanager:9093"
    provider = doc("example", "dashboards")["providers"][0]
    assert provider["type"] == "file"
    mount = "/etc/lostops/monitoring/grafana/dashboards:" + provider["options"]["path"] + ":ro"
    assert mount in doc("example", "compose")["services"]["grafana"]["volumes"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_grafana_discord_contact_point_and_policy(inventory):
    text = rendered(inventory)["alerting"]
    alerting = yaml.safe_load(text)
    receiver = alerting["contactPoints"][0]["receivers"][0]
    assert receiver["type"] == "discord"
    assert receiver["settings"]["url"] == "$__file{/run/secrets/grafana/discord_webhook_url}"
    assert rendered(inventory)["pillar"]["secrets"]["discord_webhook_url"] not in text
    assert alerting["policies"][0]["receiver"] == alerting["contactPoints"][0]["name"]
    fn, args = state(inventory, "monitoring-grafana-discord-webhook-url-secret-file-managed")
    assert (args["name"], args["contents_pillar"], args["mode"]) == (
        "/etc/lostops/monitoring/grafana/secrets/discord_webhook_url",
        "secrets:discord_webhook_url",
        "0640",
    )


def _dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_dashboards_have_uid_title_and_use_the_provisioned_datasource():
    dashboards = _dashboards()
    assert {"hosts.json", "mysql.json", "traefik.json", "containers.json"} <= set(dashboards)
    uids = {d["uid"] for d in doc("example", "datasources")["datasources"]}
    seen = set()
    for name, dash in dashboards.items():
        assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int), name
        assert len(dash["panels"]) >= 4, name
        for node in _walk(dash):
            ds = node.get("datasource")
            if isinstance(ds, dict):
                assert ds.get("uid") in uids, f"{name}: datasource {ds}"
            elif ds is not None:
                raise AssertionError(f"{name}: datasource by name {ds!r}, not by uid")
        for panel in dash["panels"]:
            assert panel["targets"], f"{name}: {panel['title']} has no query"
        seen.add(dash["uid"])
    assert len(seen) == len(dashboards), "dashboard uids are unique"


def test_dashboard_queries_are_valid_promql(tmp_path):
    """Every panel/variable query, with Grafana variables substituted, parses (promtool check rules)."""
    rules = []
    for name, dash in _dashboards().items():
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        exprs += [v["query"]["query"] for v in dash["templating"]["list"]]
        for i, expr in enumerate(exprs):
            expr = expr.replace("$__rate_interval", "5m")
            expr = re.sub(r"label_values\((.*), *\w+\)$", r"\1", expr)
            expr = re.sub(r"\$\w+", ".*", expr)
            rules.append({"record": f"check:{Path(name).stem}:{i}", "expr": expr})
    (tmp_path / "dash.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    proc = subprocess.run(
        [tool("promtool"), "check", "rules", str(tmp_path / "dash.yml")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- pillar contract


def _leaves(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out |= _leaves(v, key + ":")
        else:
            out.add(key)
    return out


def test_pillar_example_documents_every_key():
    defaults = yaml.safe_load((FORMULA / "parameters" / "defaults.yaml").read_text())
    example = yaml.safe_load((FORMULA / "pillar.example").read_text())
    assert _leaves(defaults) <= _leaves(example["monitoring"])
    site = yaml.safe_load((REPO / "pillar" / "monitoring.sls").read_text())["monitoring"]
    assert _leaves(site) <= _leaves(defaults), "pillar/monitoring.sls sets only known keys"
    for key in ("discord_webhook_url", "grafana_admin_password", "prometheus_basic_auth"):
        assert key in example["secrets"]


# --------------------------------------------------------------------------- docs against the config


def test_documented_alertmanager_access_works_with_the_rendered_sshd():
    """docs/monitoring.md once told admins to `ssh -L` to the monitoring host, whose sshd
    forbids TCP forwarding: no documented command may tunnel through a host that refuses it."""
    hs = RENDERS.result("monitoring", "example")["highstate"]
    body = hs["common-sshd-dropin-file-managed"]["file"]
    contents = next(d["contents"] for d in body if isinstance(d, dict) and "contents" in d)
    assert "AllowTcpForwarding no" in contents
    docs = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    commands = re.findall(r"`(ssh [^`]*)`", docs)
    assert commands, "docs/monitoring.md documents no ssh command for Alertmanager"
    assert not [c for c in commands if re.search(r"\s-\w*[LDR]\b", c)], commands


def test_no_file_relies_on_lets_encrypt_expiry_mails():
    """Let's Encrypt sends no expiry e-mails since June 2025: nothing may say the ACME
    contact "gets the expiry warnings"; the docs say what warns instead."""
    for path in ("pillar/traefik.sls", "salt/traefik/pillar.example", "salt/traefik/parameters/defaults.yaml"):
        text = (REPO / path).read_text(encoding="utf-8")
        assert not re.search(r"gets the expiry|expiry (e-?mails?|warnings) (to|go)", text, re.I), path
        flat = " ".join(re.sub(r"#", " ", text).split()).lower()
        assert "no expiry e-mails" in flat, path
    docs = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    assert "no check from outside" in docs and "TLSCertificateExpiringSoon" in docs


def test_watchdog_goes_to_its_own_receiver_never_to_discord(tmp_path):
    """The always-firing Watchdog is routed to `watchdog` (a heartbeat URL outside the
    platform when monitoring:alertmanager:watchdog:url is set, else nowhere), checked by the
    real amtool routing test; every other alert still goes to Discord."""
    text = rendered("example")["alertmanager"]
    config = yaml.safe_load(text)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["routes"][0]["receiver"] == "watchdog"
    assert receivers["watchdog"] == {"name": "watchdog"}, "no URL in the example: the Watchdog goes nowhere"
    text = text.replace("/etc/alertmanager/discord_webhook_url", str(tmp_path / "d"))
    (tmp_path / "d").write_text("https://discord.com/api/webhooks/0/unit-test")
    if version("amtool") < WEBHOOK_URL_FILE_SINCE:
        text = re.sub(r"webhook_url_file: \S+", "webhook_url: https://discord.com/api/webhooks/0/unit-test", text)
    (tmp_path / "am.yml").write_text(text)
    for labels, want in (
        ("alertname=Watchdog severity=none", "watchdog"),
        ("alertname=InstanceDown host=db", "discord"),
    ):
        proc = subprocess.run(
            [tool("amtool"), "config", "routes", "test", f"--config.file={tmp_path / 'am.yml'}", *labels.split()],
            capture_output=True,
            text=True,
        )
        assert proc.stdout.strip() == want, (labels, proc.stdout, proc.stderr)
