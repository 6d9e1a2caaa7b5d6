"""The traefik formula (salt/traefik), rendered through Salt.

The backend and monitoring highstates come from the shared session fixtures
(`highstate`, `managed_files`: Salt's own render, target OS grains); switches
(ACME staging, dashboard) are rendered with extra pillar through salt-call.
The static configuration and the dynamic files are `file.serialize` datasets,
so the assertions read exactly what Traefik will get; the compose file is the
one Salt's file.get_managed renders for the host.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from lostops.inventory import REPO_ROOT as REPO
from tests.unit.saltcall import host_view, render_error, show_sls, state

HOSTS = ["backend", "monitoring"]
COMPOSE = "/opt/lostops/traefik/compose.yaml"


# --------------------------------------------------------------------------- tests


def static(hs: dict) -> dict:
    return state(hs, "traefik-config-static-file-serialize")[1]["dataset"]


def compose(managed_files, host: str, inventory: str = "example") -> dict:
    return yaml.safe_load(managed_files(host, inventory)[COMPOSE])


@pytest.mark.parametrize("host", HOSTS)
def test_web_redirects_permanently_to_websecure(highstate, host):
    web = static(highstate(host))["entryPoints"]["web"]
    assert web["address"] == ":80"
    assert web["http"]["redirections"]["entryPoint"] == {
        "to": "websecure",
        "scheme": "https",
        "permanent": True,
    }


@pytest.mark.parametrize("host", HOSTS)
def test_websecure_has_tls_resolver_and_security_headers(highstate, host):
    ws = static(highstate(host))["entryPoints"]["websecure"]
    assert ws["address"] == ":443"
    assert ws["http"]["middlewares"] == ["security-headers@file"]
    assert ws["http"]["tls"] == {"certResolver": "le"}


def test_tls_options_default_min_tls12_and_sni_strict(highstate):
    _, args = state(highstate("backend"), "traefik-config-tls-file-serialize")
    assert args["name"] == "/etc/lostops/traefik/dynamic/tls.yml"
    default = args["dataset"]["tls"]["options"]["default"]
    assert default["minVersion"] == "VersionTLS12"
    assert default["sniStrict"] is True
    assert default["cipherSuites"], "a cipher list for TLS 1.2"
    assert all("ECDHE" in c and ("GCM" in c or "CHACHA20" in c) for c in default["cipherSuites"])


def test_tls_options_keep_gos_post_quantum_key_exchange(highstate):
    """An explicit curvePreferences replaces Go's default list, which (Go 1.24,
    Traefik 3.5.3) starts with the hybrid X25519MLKEM768: the rendered tls.yml
    leaves it out, or, when set, it must keep X25519MLKEM768."""
    for host in ("backend", "monitoring"):
        _, args = state(highstate(host), "traefik-config-tls-file-serialize")
        default = args["dataset"]["tls"]["options"]["default"]
        curves = default.get("curvePreferences")
        assert curves is None or "X25519MLKEM768" in curves, f"{host}: {curves} disables X25519MLKEM768"


def test_security_headers_middleware(highstate):
    _, args = state(highstate("backend"), "traefik-config-middlewares-file-serialize")
    headers = args["dataset"]["http"]["middlewares"]["security-headers"]["headers"]
    assert headers["stsSeconds"] == 31536000
    assert headers["stsIncludeSubdomains"] is True
    assert headers["contentTypeNosniff"] is True
    assert headers["frameDeny"] is True
    assert headers["referrerPolicy"] == "strict-origin-when-cross-origin"


def test_docker_provider_not_exposed_by_default_on_proxy_network(highstate):
    providers = static(highstate("backend"))["providers"]
    assert providers["docker"]["exposedByDefault"] is False
    assert providers["docker"]["network"] == "proxy"
    assert providers["file"] == {"directory": "/etc/traefik/dynamic", "watch": True}


def test_acme_resolver_production_http01_and_storage(highstate):
    acme = static(highstate("backend"))["certificatesResolvers"]["le"]["acme"]
    assert acme["caServer"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme["httpChallenge"] == {"entryPoint": "web"}
    assert acme["storage"] == "/acme/acme.json"
    assert acme["email"] == "hostmaster@lostops.example.com"


def test_acme_staging_switch():
    hs = show_sls("backend", "traefik", pillar='{"traefik": {"acme": {"staging": true}}}')
    acme = static(hs)["certificatesResolvers"]["le"]["acme"]
    assert acme["caServer"] == "https://acme-staging-v02.api.letsencrypt.org/directory"


def test_acme_json_is_0600_and_never_replaced(highstate):
    hs = highstate("backend")
    fun, args = state(hs, "traefik-acme-storage-file-managed")
    assert fun == "file.managed"
    assert args["name"] == "/srv/lostops/traefik/acme/acme.json"
    assert args["mode"] == "0600"
    assert args["replace"] is False
    assert state(hs, "traefik-acme-dir-file-directory")[1]["mode"] == "0700"


def test_metrics_entrypoint_prometheus_and_json_access_log(highstate):
    cfg = static(highstate("backend"))
    assert cfg["entryPoints"]["metrics"] == {"address": ":8082"}
    assert cfg["metrics"]["prometheus"]["entryPoint"] == "metrics"
    assert cfg["accessLog"] == {"format": "json"}  # no filePath: stdout


@pytest.mark.parametrize("host", HOSTS)
def test_dashboard_absent_by_default_and_never_insecure(highstate, host):
    hs = highstate(host)
    cfg = static(hs)
    assert "api" not in cfg
    assert state(hs, "traefik-config-dashboard-file-absent")[0] == "file.absent"
    assert "insecure" not in json.dumps(cfg)


def test_dashboard_enabled_gets_host_rule_and_basic_auth():
    pillar = json.dumps(
        {
            "traefik": {"dashboard": {"enabled": True, "host": "traefik.lostops.example.com"}},
            "secrets": {"traefik_dashboard_auth": "admin:$2y$05$abcdefghijklmnopqrstuv"},
        }
    )
    hs = show_sls("backend", "traefik", pillar=pillar)
    assert static(hs)["api"] == {"dashboard": True}
    http = state(hs, "traefik-config-dashboard-file-serialize")[1]["dataset"]["http"]
    router = http["routers"]["dashboard"]
    assert router["rule"] == "Host(`traefik.lostops.example.com`)"
    assert router["service"] == "api@internal"
    assert router["entryPoints"] == ["websecure"]
    assert router["middlewares"] == ["dashboard-auth"]
    assert http["middlewares"]["dashboard-auth"]["basicAuth"]["usersFile"] == "/etc/traefik/dashboard.htpasswd"
    _, auth = state(hs, "traefik-config-dashboard-auth-file-managed")
    assert auth["mode"] == "0600"
    assert auth["contents_pillar"] == "secrets:traefik_dashboard_auth"
    assert "$2y$05$" not in json.dumps(hs), "the htpasswd line stays out of the state data"


def test_dashboard_enabled_without_host_fails_the_render():
    error = render_error("backend", "traefik", '{"traefik": {"dashboard": {"enabled": true}}}')
    assert "traefik:dashboard:host: required" in error


@pytest.mark.parametrize("host", HOSTS)
def test_compose_publishes_80_443_publicly_and_metrics_on_private_ip(managed_files, host):
    ip = host_view(host)["host"]["private_ip"]
    svc = compose(managed_files, host)["services"]["traefik"]
    assert sorted(svc["ports"]) == sorted(["80:80", "443:443", f"{ip}:8082:8082"])
    assert svc["image"].startswith("docker.io/library/traefik:v3.")
    assert not any("docker.sock" in v for v in svc["volumes"]), "Traefik never gets the Docker socket"
    assert "/srv/lostops/traefik/acme:/acme" in svc["volumes"]
    assert not any("dashboard" in v for v in svc["volumes"])
    assert svc["networks"] == ["proxy", "docker-api"]
    assert svc["healthcheck"]["test"] == ["CMD", "traefik", "healthcheck", "--ping"]


@pytest.mark.parametrize("host", HOSTS)
def test_docker_provider_reads_the_api_through_the_read_only_socket_proxy(highstate, managed_files, host):
    """Only the proxy mounts the socket; it is on the project's internal network, with no port on the host."""
    project = compose(managed_files, host)
    proxy = project["services"]["docker-socket-proxy"]
    assert proxy["image"] == "ghcr.io/tecnativa/docker-socket-proxy:v0.4.1"
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in proxy["volumes"]
    assert (
        "/etc/lostops/traefik/docker-socket-proxy.cfg:/usr/local/etc/haproxy/haproxy.cfg.template:ro"
        in proxy["volumes"]
    )
    assert proxy["networks"] == ["docker-api"] and "ports" not in proxy
    assert proxy["read_only"] is True and proxy["cap_drop"] == ["ALL"]
    assert project["networks"]["docker-api"] == {
        "internal": True,
        "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"},
    }
    assert static(highstate(host))["providers"]["docker"]["endpoint"] == "tcp://docker-socket-proxy:2375"
    cfg = managed_files(host)["/etc/lostops/traefik/docker-socket-proxy.cfg"]
    rules = [line.strip() for line in cfg.splitlines() if line.strip().startswith("http-request")]
    # Reads only, then exactly the paths Traefik's docker provider reads, then deny.
    assert rules[0] == "http-request deny deny_status 403 unless METH_GET"
    allowed = [re.search(r"\)\?(.*)\$ \}", r).group(1) for r in rules[1:-1]]
    assert allowed == [
        "/_ping",
        "/version",
        "/events",
        "/containers/json",
        "/containers/[a-zA-Z0-9][a-zA-Z0-9_.-]*/json",
    ]
    assert rules[-1] == "http-request deny deny_status 403"
    assert "bind :2375" in cfg and '"${SOCKET_PATH}"' in cfg


def test_a_changed_proxy_rule_recreates_the_project(highstate):
    _, args = state(highstate("backend"), "traefik-compose-recreate-cmd-run")
    assert {"file": "traefik-config-socket-proxy-file-managed"} in args["onchanges"]


def test_compose_joins_external_proxy_network_and_network_state(highstate, managed_files):
    assert compose(managed_files, "backend")["networks"] == {
        "proxy": {"external": True},
        "docker-api": {"internal": True, "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"}},
    }
    fun, args = state(highstate("backend"), "traefik-network-proxy-cmd-run")
    assert fun == "cmd.run"
    assert args["name"] == "docker network create proxy"
    assert args["unless"].startswith("docker network inspect proxy")


def test_static_config_change_recreates_the_container(highstate):
    _, args = state(highstate("backend"), "traefik-compose-recreate-cmd-run")
    assert {"file": "traefik-config-static-file-serialize"} in args["onchanges"]


def test_lab_acme_against_pebble_and_real_traefik_with_the_production_command(highstate, managed_files):
    # pillar/overrides/lab/traefik.sls: only the ACME directory differs (the lab's
    # Pebble on the outer machine, tests/lab/outer.py).
    cfg = static(highstate("backend", "lab"))
    prod = static(highstate("backend", "example"))
    acme = cfg["certificatesResolvers"]["le"]["acme"]
    assert acme["caServer"] == "https://10.77.0.1:14000/dir"
    assert {k: v for k, v in acme.items() if k not in ("caServer", "email")} == {
        k: v for k, v in prod["certificatesResolvers"]["le"]["acme"].items() if k not in ("caServer", "email")
    }
    assert cfg["entryPoints"] == prod["entryPoints"]
    svc = compose(managed_files, "backend", "lab")["services"]["traefik"]
    prod = compose(managed_files, "backend", "example")["services"]["traefik"]
    # Traefik 3.5.3 from the official binary (tests/lab/images/traefik.py).
    assert svc["image"] == "localhost/lostops-lab-traefik:lab"
    assert svc["command"] == prod["command"]
    assert svc["healthcheck"]["test"] == prod["healthcheck"]["test"]
    assert "10.77.0.10:8082:8082" in svc["ports"]
    # The socket proxy: Debian's HAProxy in a lab image, the production rules file and settings unchanged.
    lab_proxy = compose(managed_files, "backend", "lab")["services"]["docker-socket-proxy"]
    prod_proxy = compose(managed_files, "backend", "example")["services"]["docker-socket-proxy"]
    assert lab_proxy["image"] == "localhost/lostops-lab-docker-socket-proxy:lab"
    assert {k: v for k, v in lab_proxy.items() if k != "image"} == {k: v for k, v in prod_proxy.items() if k != "image"}


def test_pillar_example_renders():
    """salt/traefik/pillar.example is a complete, valid pillar for the formula."""
    example = yaml.safe_load((REPO / "salt" / "traefik" / "pillar.example").read_text())
    cfg = static(show_sls("monitoring", "traefik", pillar=json.dumps(example)))
    assert cfg["entryPoints"]["web"]["http"]["redirections"]["entryPoint"]["permanent"] is True
