"""The exporters formula (salt/exporters), rendered through Salt.

Every host of both inventories is rendered with Salt itself
(lostops.render.Renderer via tests/unit/saltcall.py: real states, pillar, templates and target-OS
grains), once per (host, inventory) per session; the assertions read the
rendered compose file and mysqld_exporter's my.cnf.
"""

from __future__ import annotations

import functools
import json
import re

import pytest
import yaml

from lostops import render
from lostops.inventory import REPO_ROOT as REPO
from tests.unit import composemerge
from tests.unit.saltcall import RENDERS

COMPOSE = "/opt/lostops/exporters/compose.yaml"
MYCNF = "/etc/lostops/exporters/mysqld-exporter/my.cnf"
HOSTS = ("backend", "database", "monitoring")
# docker-socket-proxy: cAdvisor's read-only Docker API (no inventory service, no port).
EXPECTED = {
    "backend": {"node-exporter", "cadvisor", "docker-socket-proxy"},
    "database": {"node-exporter", "cadvisor", "mysqld-exporter", "docker-socket-proxy"},
    "monitoring": {"node-exporter", "cadvisor", "docker-socket-proxy"},
}
# compose service -> inventory service (lostops:services)
SERVICE = {
    "node-exporter": "node-exporter",
    "cadvisor": "cadvisor",
    "mysqld-exporter": "mysqld-exporter",
}
CASES = [(h, i) for i in ("example", "lab") for h in HOSTS]


def rendered(host: str, inventory: str = "example") -> dict:
    """The session's full render of `host` (shared with every Salt test)."""
    return RENDERS.result(host, inventory)


@functools.cache
def inv(inventory: str) -> dict:
    return yaml.safe_load((REPO / "pillar" / "inventory" / f"{inventory}.yaml").read_text())


def files(host: str, inventory: str = "example") -> dict:
    return {p: f["contents"] for p, f in rendered(host, inventory)["files"].items()}


def compose(host: str, inventory: str = "example") -> dict:
    """compose.yaml merged with compose.override.yaml (the lab's stand-ins), as compose does."""
    rendered_files = files(host, inventory)
    override = rendered_files.get(COMPOSE.replace("compose.yaml", "compose.override.yaml"))
    return composemerge.merge(yaml.safe_load(rendered_files[COMPOSE]), yaml.safe_load(override) if override else None)


def test_every_host_runs_exporters(highstate):
    for host in HOSTS:
        assert "exporters-compose-file-managed" in highstate(host), host


@pytest.mark.parametrize("host,inventory", CASES)
def test_exporters_per_role(host, inventory):
    assert set(compose(host, inventory)["services"]) == EXPECTED[host]
    has_mycnf = MYCNF in files(host, inventory)
    assert has_mycnf == (host == "database")


@pytest.mark.parametrize("host,inventory", CASES)
def test_everything_on_the_private_ip_only(host, inventory):
    ip = inv(inventory)["hosts"][host]["private_ip"]
    services = inv(inventory)["services"]
    c = compose(host, inventory)
    for name, svc in c["services"].items():
        if name == "docker-socket-proxy":
            assert "ports" not in svc and svc["networks"] == ["docker-api"], svc
            continue
        port = services[SERVICE[name]]["port"]
        if name == "node-exporter":
            assert svc["network_mode"] == "host" and svc["pid"] == "host"
            assert "ports" not in svc
            listen = [a for a in svc["command"] if a.startswith("--web.listen-address=")]
            # the real node_exporter in the lab too (tests/lab/images/node_exporter.py)
            assert listen == [f"--web.listen-address={ip}:{port}"]
            assert "--path.rootfs=/host" in svc["command"]
            assert any(v.startswith("/:/host:ro") for v in svc["volumes"])
        else:
            assert len(svc["ports"]) == 1
            assert svc["ports"][0].startswith(f"{ip}:{port}:"), svc["ports"]
        assert not svc.get("privileged"), name
        assert svc["restart"] == "unless-stopped"
        assert "healthcheck" in svc


@pytest.mark.parametrize("host", HOSTS)
def test_images_pinned(host):
    images = yaml.safe_load((REPO / "pillar" / "images.sls").read_text())["images"]
    c = compose(host)
    key = {
        "node-exporter": "node_exporter",
        "cadvisor": "cadvisor",
        "mysqld-exporter": "mysqld_exporter",
        "docker-socket-proxy": "docker_socket_proxy",
    }
    for name, svc in c["services"].items():
        img = images[key[name]]
        assert svc["image"] == f"{img['name']}:{img['tag']}" + (f"@{img['digest']}" if img["digest"] else "")
        assert img["tag"] and img["tag"] != "latest"
    tag = images["mysqld_exporter"]["tag"].lstrip("v").split(".")
    assert (int(tag[0]), int(tag[1])) >= (0, 15), "my.cnf configuration needs mysqld_exporter >= 0.15"


def ini_value(raw: str) -> str:
    """A value as gopkg.in/ini.v1 (v1.67.0, parser.go readValue) reads it with
    mysqld_exporter 0.17.2's LoadOptions (Loose, AllowBooleanKeys: inline
    comments and continuation lines on, no UnescapeValueDoubleQuotes), then
    its ValueMapper os.ExpandEnv. `raw` is the text after `=`, with the line's
    newline (ini.v1 keeps it: it decides whether a triple quote opens a value).

    Checked against the real parser (Go, Debian's ini.v1 1.66.2, whose
    readValue is identical to v1.67.0's) on the passwords of
    test_my_cnf_keeps_every_one_line_password_verbatim.
    """
    line = raw.lstrip()
    if not line:
        return ""
    quote = '"""' if len(line) > 3 and line[:3] == '"""' else "`" if line[0] == "`" else ""
    if quote:
        pos = line[len(quote) :].rfind(quote)
        if pos == -1:
            raise ValueError(f"ini.v1 would read a multi-line value: {raw!r}")
        value = line[len(quote) : len(quote) + pos]
    else:
        line = line.strip()
        if line.endswith("\\"):
            raise ValueError(f"ini.v1 would join the next line (trailing backslash): {raw!r}")
        cut = [i for i in (line.find("#"), line.find(";")) if i > -1]
        if cut:
            line = line[: min(cut)].strip()
        for q in "'\"":  # hasSurroundedQuote: the quote only at both ends
            if len(line) >= 2 and line[0] == q and line[-1] == q and line[1:].find(q) == len(line) - 2:
                line = line[1:-1]
                break
        value = line
    if "$" in value:
        raise ValueError(f"os.ExpandEnv would expand {value!r}")
    return value


def ini_client_section(text: str) -> dict:
    section, out = None, {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            section = stripped.strip("[]")
            continue
        key, _, raw = stripped.partition("=")
        if section == "client":
            out[key.strip()] = ini_value(raw + "\n")
    return out


def render_my_cnf(password: str) -> str:
    """salt/exporters/files/my.cnf.jinja through Salt's own Jinja renderer."""
    import salt.config
    import salt.utils.templates

    opts = salt.config.minion_config(None)
    opts["file_client"] = "local"
    text = (REPO / "salt" / "exporters" / "files" / "my.cnf.jinja").read_text()
    context = {
        "salt": {"pillar.get": lambda key, default=None: password},
        "opts": opts,
        "saltenv": "base",
        "user": "exporter",
        "host": "mysql",
        "port": 3306,
    }
    return salt.utils.templates.render_jinja_tmpl(text, context)


NASTY_PASSWORDS = [
    "a#b;c-long-enough",
    "semi;colon ; and # hash",
    '"fully double-quoted"',
    "'fully single-quoted'",
    'say "hi" to O\'Brien',
    "back\\slash and trailing\\",
    "  leading and trailing blanks  ",
    "`backticks`",
    'x"""y and ends with a quote"',
    '"""',
    "\\#\\;escaped-looking",
    "utf-8 ✓ é ß",
]


@pytest.mark.parametrize("password", NASTY_PASSWORDS)
def test_my_cnf_keeps_every_one_line_password_verbatim(password):
    """mysqld_exporter's ini parser cuts unquoted values at # or ;, strips
    quotes and blanks and joins lines after a trailing backslash: the rendered
    my.cnf must give back exactly the password."""
    opts = ini_client_section(render_my_cnf(password))
    assert opts["password"] == password
    assert (opts["user"], opts["host"], opts["port"]) == ("exporter", "mysql", "3306")


@pytest.mark.parametrize(
    "password, message",
    [
        ("with-$HOME-inside-16", 'must not contain "$"'),
        ("two lines\nare-not-possible", "must be one line"),
    ],
)
def test_exporter_password_that_my_cnf_cannot_hold_fails_the_render(password, message):
    from tests.unit.saltcall import render_error

    pillar = json.dumps({"secrets": {"mysql_exporter_password": password}})
    assert message in render_error("database", "exporters", pillar)


def test_mysqld_exporter_uses_my_cnf_and_tls():
    c = compose("database")
    svc = c["services"]["mysqld-exporter"]
    assert "--config.my-cnf=/etc/mysqld-exporter/my.cnf" in svc["command"]
    assert "DATA_SOURCE_NAME" not in yaml.safe_dump(c)  # parsed: comments do not count
    assert "environment" not in svc
    assert svc["volumes"] == ["/etc/lostops/exporters/mysqld-exporter:/etc/mysqld-exporter:ro"]
    assert "mysql-internal" in svc["networks"] and c["networks"]["mysql-internal"] == {"external": True}
    cnf = files("database")[MYCNF]
    opts = ini_client_section(cnf)
    assert opts["user"] == "exporter"
    assert opts["host"] == "mysql"  # the alias on mysql-internal, in the server certificate's SAN
    assert opts["ssl-ca"] == "/etc/mysqld-exporter/ca.pem"
    assert (
        opts["password"]
        == yaml.safe_load((REPO / "pillar" / "secrets.yaml.example").read_text())["mysql_exporter_password"]
    )
    st = render.states(rendered("database")["highstate"], "file.managed")
    mycnf = st["exporters-mysqld-exporter-mycnf-file-managed"]["args"]
    assert (mycnf["mode"], str(mycnf["group"]), mycnf["show_changes"]) == (
        "0640",
        "65534",
        False,
    )
    assert st["exporters-mysqld-exporter-ca-file-managed"]["args"]["contents_pillar"] == "secrets:mysql_ca_cert"
    # The password never reaches a command line or the compose file.
    assert "CHANGEME" not in files("database")[COMPOSE]
    # A change of my.cnf or the CA restarts the exporter.
    recreate = render.states(rendered("database")["highstate"], "cmd.run")["exporters-compose-recreate-cmd-run"]["args"]
    assert {
        "exporters-mysqld-exporter-mycnf-file-managed",
        "exporters-mysqld-exporter-ca-file-managed",
    } <= {next(iter(r.values())) for r in recreate["onchanges"]}


def test_mysqld_exporter_network_is_the_one_the_mysql_account_is_bound_to():
    hs = rendered("database")["highstate"]
    net = render.states(hs, "cmd.run")["mysql-network-internal-cmd-run"]["args"]["name"]
    assert net.endswith(" mysql-internal") and "--internal" in net
    req = render.states(hs, "cmd.run")["exporters-compose-up-cmd-run"]["args"]["require"]
    assert {"cmd": "mysql-network-internal-cmd-run"} in req


def test_node_exporter_reads_the_textfile_directory_the_backup_writes():
    # one parameter (exporters:node_exporter:textfile_dir) for the collector and
    # the backup script on the database host (salt/mysql/backup.sls reads it)
    cmd = compose("database")["services"]["node-exporter"]["command"]
    assert "--collector.textfile.directory=/host/var/lib/node-exporter/textfile" in cmd
    d = render.states(rendered("database")["highstate"], "file.directory")
    assert d["exporters-node-exporter-textfile-dir-file-directory"]["args"]["name"] == "/var/lib/node-exporter/textfile"


def test_cadvisor_not_privileged_with_read_only_mounts():
    svc = compose("backend")["services"]["cadvisor"]
    assert not svc.get("privileged")
    assert all(v.endswith(":ro") for v in svc["volumes"])
    assert svc["devices"] == ["/dev/kmsg"]
    assert "devices" not in compose("backend", "lab")["services"]["cadvisor"]
    # Reading /dev/kmsg (OOM events) needs CAP_SYSLOG; Docker does not grant it by default.
    assert svc["cap_add"] == ["SYSLOG"]


@pytest.mark.parametrize("host", HOSTS)
def test_cadvisor_reads_docker_through_its_read_only_socket_proxy(host):
    """No /var/run mount, /rootfs/run hidden, the docker factory pointed at the proxy; exactly cAdvisor's GETs."""
    project = compose(host)
    svc, proxy = project["services"]["cadvisor"], project["services"]["docker-socket-proxy"]
    assert "--docker=tcp://docker-socket-proxy:2375" in svc["command"]
    assert not any(v.split(":")[0].rstrip("/") in ("/var/run", "/run") for v in svc["volumes"]), svc["volumes"]
    assert svc["tmpfs"] == ["/rootfs/run:ro,size=4k"]
    assert svc["networks"] == ["default", "docker-api"] and svc["depends_on"] == ["docker-socket-proxy"]
    assert proxy["networks"] == ["docker-api"] and "ports" not in proxy
    assert project["networks"]["docker-api"] == {
        "internal": True,
        "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"},
    }
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in proxy["volumes"]
    assert proxy["read_only"] is True and proxy["cap_drop"] == ["ALL"]
    # node_exporter (as nobody) gets the host's / too: its /run is hidden as well.
    assert project["services"]["node-exporter"]["tmpfs"] == ["/host/run:ro,size=4k"]
    cfg = files(host)["/etc/lostops/exporters/docker-socket-proxy.cfg"]
    rules = [line.strip() for line in cfg.splitlines() if line.strip().startswith("http-request")]
    assert rules[0] == "http-request deny deny_status 403 unless METH_GET"
    allowed = [re.search(r"\)\?(.*)\$ \}", r).group(1) for r in rules[1:-1]]
    # cadvisor v0.52.1 container/docker: Info, ServerVersion, ContainerInspect, and the client's ping.
    assert allowed == ["/_ping", "/version", "/info", "/containers/[a-zA-Z0-9][a-zA-Z0-9_.-]*/json"]
    assert rules[-1] == "http-request deny deny_status 403"
    assert "Read-only Docker API for: cAdvisor" in cfg


def test_a_changed_proxy_rule_recreates_the_exporters(highstate):
    args = render.states(highstate("backend"), "cmd.run")["exporters-compose-recreate-cmd-run"]["args"]
    assert {"file": "exporters-socket-proxy-file-managed"} in args["onchanges"]


@pytest.mark.parametrize("host,inventory", CASES)
def test_dollar_signs_escaped_for_compose(host, inventory):
    # compose interpolates $VAR; a literal $ (regexes in node_exporter flags) must be $$.
    body = files(host, inventory)[COMPOSE]
    assert not re.search(r"(?<!\$)\$(?!\$)", body.replace("$$", ""))


@pytest.mark.parametrize("host", HOSTS)
def test_lab_uses_the_real_exporters_and_the_stand_in_for_cadvisor(host):
    # node_exporter and mysqld_exporter: lab images of the real programs
    # (tests/lab/images/) with the production command and health check;
    # cAdvisor (no package) stays on the busybox stand-in.
    prod = compose(host, "example")["services"]
    for name, svc in compose(host, "lab")["services"].items():
        if name == "cadvisor":
            assert svc["image"] == "localhost/lostops-standin:lab", name
            assert svc["command"][0] == "httpd"
            # The stand-in runs with the production mounts, masks and networks (the e2e proof reads them).
            keep = ("volumes", "tmpfs", "networks", "depends_on", "cap_add", "security_opt")
            assert {k: svc.get(k) for k in keep} == {k: prod[name].get(k) for k in keep}
            continue
        if name == "docker-socket-proxy":
            # Debian's HAProxy (tests/lab/images/docker_socket_proxy.py), the production settings unchanged.
            assert svc["image"] == "localhost/lostops-lab-docker-socket-proxy:lab"
            assert {k: v for k, v in svc.items() if k != "image"} == {
                k: v for k, v in prod[name].items() if k != "image"
            }
            continue
        assert svc["image"] == f"localhost/lostops-lab-{name}:lab", name
        assert [a.split("=")[0] for a in svc["command"]] == [a.split("=")[0] for a in prod[name]["command"]], name
        assert svc["healthcheck"]["test"][:3] == prod[name]["healthcheck"]["test"][:3], name


def test_pillar_example_documents_the_top_level_keys():
    example = yaml.safe_load((REPO / "salt" / "exporters" / "pillar.example").read_text())["exporters"]
    defaults = yaml.safe_load((REPO / "salt" / "exporters" / "parameters" / "defaults.yaml").read_text())
    assert set(defaults) <= set(example), set(defaults) - set(example)
