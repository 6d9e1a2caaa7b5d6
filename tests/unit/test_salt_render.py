"""Every host renders (Salt's own state.show_highstate) for the example and lab
inventories, and facts that must hold across all formulas:

- every container image is pinned to an exact tag (never `latest`, never bare);
- the lab stand-in image never reaches a production render;
- published ports bind to the host's private IP; only Traefik publishes
  80/443 on every address.
"""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
import yaml

from lostops import inventory as inventory_mod
from lostops import roles

INVENTORIES = ("example", "lab")
HOSTS = {inv: list(inventory_mod.load(inv).hosts) for inv in INVENTORIES}
CASES = [(inv, host) for inv in INVENTORIES for host in HOSTS[inv]]
STANDIN = "lostops-standin"
# The formulas of each role: the role table, which salt/top.sls applies through the pillar.
TOP = {name: list(role.formulas) for name, role in roles.ROLES.items()}


def _compose_files(files: dict[str, str]) -> dict[str, dict]:
    out = {}
    for path, text in files.items():
        if re.search(r"/(compose|docker-compose)\.ya?ml$", path):
            out[path] = yaml.safe_load(text) or {}
    return out


def _image_refs(hs: dict, files: dict[str, str]) -> list[tuple[str, str]]:
    """(where, reference) for every image in compose files and in state arguments."""
    refs = []
    for path, doc in _compose_files(files).items():
        for name, svc in (doc.get("services") or {}).items():
            refs.append((f"{path} services.{name}.image", str((svc or {}).get("image", ""))))
    text = json.dumps(hs)
    for m in re.finditer(r"docker (?:pull|run|image inspect|create)\s+(?:-\S+\s+)*([^\s\"'&|;]+)", text):
        refs.append(("state command", m.group(1)))
    return refs


@pytest.mark.parametrize(("inventory", "host"), CASES)
def test_host_renders(highstate, inventory, host):
    hs = highstate(host, inventory)
    sls = {body.get("__sls__", "").split(".")[0] for body in hs.values()}
    missing = [f for f in TOP[inventory_mod.load(inventory).hosts[host].role] if f not in sls]
    assert not missing or all(_placeholder(f) for f in missing), f"formulas without states: {missing}"


def _placeholder(formula: str) -> bool:
    from lostops.inventory import REPO_ROOT

    init = REPO_ROOT / "salt" / formula / "init.sls"
    return init.exists() and "Placeholder" in init.read_text()


@pytest.mark.parametrize(("inventory", "host"), CASES)
def test_images_are_pinned(highstate, managed_files, inventory, host):
    refs = _image_refs(highstate(host, inventory), managed_files(host, inventory))
    bad = []
    for where, ref in refs:
        last = ref.rsplit("/", 1)[-1]
        name_tag = last.split("@", 1)[0]
        if ":" not in name_tag or name_tag.endswith(":") or name_tag.split(":", 1)[1] == "latest":
            bad.append(f"{where}: {ref!r}")
    assert not bad, "images must be pinned to an exact tag:\n" + "\n".join(bad)


@pytest.mark.parametrize("host", HOSTS["example"])
def test_standin_never_in_production(highstate, managed_files, host):
    hs = json.dumps(highstate(host, "example"))
    files = json.dumps(managed_files(host, "example"))
    assert STANDIN not in hs and STANDIN not in files, (
        f"the lab stand-in image leaked into the example render of {host}"
    )


def _published(port) -> tuple[str | None, str, str]:
    """(host ip or None, published port, protocol) of a compose ports entry."""
    if isinstance(port, dict):
        return port.get("host_ip"), str(port.get("published", "")), port.get("protocol", "tcp")
    text = str(port)
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
    parts = text.rsplit(":", 2) if text.count(":") >= 2 else text.split(":")
    if len(parts) == 3:
        return parts[0].strip("[]"), parts[1], proto
    if len(parts) == 2:
        return None, parts[0], proto
    return None, "", proto  # container port only: published on a random port of every address


@pytest.mark.parametrize(("inventory", "host"), CASES)
def test_published_ports_bind_private_ip(managed_files, inventory, host):
    inv = inventory_mod.load(inventory)
    private_ip = str(inv.hosts[host].private_ip)
    public_ok = {str(inv.services["http"].port_range[0]), str(inv.services["https"].port_range[0])}
    bad = []
    for path, doc in _compose_files(managed_files(host, inventory)).items():
        traefik = "/traefik/" in path
        for name, svc in (doc.get("services") or {}).items():
            for port in (svc or {}).get("ports") or []:
                ip, published, _ = _published(port)
                if ip == private_ip:
                    continue
                if traefik and published in public_ok and ip in (None, "0.0.0.0", "::"):
                    continue
                bad.append(f"{path} services.{name}.ports: {port!r}")
            # network_mode: host publishes nothing; its listen address is checked by that formula's tests.
    assert not bad, f"published ports must bind to {private_ip} (only Traefik 80/443 on all addresses):\n" + "\n".join(
        bad
    )


def test_private_ip_is_an_address():
    for inv in INVENTORIES:
        for host in inventory_mod.load(inv).hosts.values():
            assert ipaddress.IPv4Address(str(host.private_ip)).is_private


def test_a_kept_salt_process_forgets_a_command_line_pillar():
    """The Renderer answers many renders from one Salt process: a pillar given on one
    render (salt-ssh's pillar='{...}') must not leak into the next render of that host."""
    from lostops import render
    from tests.unit.saltcall import RENDERER

    before = RENDERER.render("backend", "example", mods="app", pillar={"app": {"version": "1.2.3"}})
    plain = RENDERER.render("backend", "example", mods="traefik")
    after = RENDERER.render("backend", "example", mods="app", pillar={"app": {"version": "2.0.0"}})
    assert before["pillar"]["app"]["version"] == "1.2.3"
    assert plain["pillar"]["app"]["version"] == "0.1.0", "the example inventory's own version (pillar/overrides)"
    assert after["pillar"]["app"]["version"] == "2.0.0"
    assert "app:1.2.3" in json.dumps(before["highstate"]) and "app:1.2.3" not in json.dumps(after["highstate"])
    try:
        RENDERER.render("database", "example", mods="no.such.sls")
    except render.RenderError as exc:
        assert "no.such.sls" in str(exc), exc
    else:
        raise AssertionError("an unknown sls rendered")


def test_renderer_keeps_at_most_keep_processes(monkeypatch):
    """The least recently used Salt process is stopped beyond `keep` (bookkeeping only:
    each process is recorded, not started)."""
    from lostops import render

    started, closed = [], []

    class Recorded:
        def __init__(self, host, inventory, grains):
            self.host = host
            started.append(host)

        def alive(self):
            return True

        def request(self, mods, pillar, timeout):
            return {"highstate": {}, "files": {}, "pillar": {}}

        def close(self):
            closed.append(self.host)

    monkeypatch.setattr(render, "_Worker", Recorded)
    with render.Renderer(keep=2) as renderer:
        for host in ("backend", "database", "backend", "monitoring", "backend"):
            renderer.render(host, "example")
        assert started == ["backend", "database", "monitoring"], "a kept process is reused"
        assert closed == ["database"], "the least recently used one goes first"
    assert sorted(closed) == ["backend", "database", "monitoring"], "close() stops the rest"
