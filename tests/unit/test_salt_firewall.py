"""The firewall formula's nftables ruleset, as rendered by Salt, on the real nft.

- The ruleset (state firewall-config-file-managed, exactly the text Salt writes
  to /etc/nftables.conf) passes `nft -c -f` and loads with `nft -f` in a
  throw-away network namespace — twice (idempotent), next to Docker-like
  iptables-nft tables that must survive.
- From the kernel's own listing (`nft -j`): input and forward drop by
  default, every pillar rule (lostops:firewall) appears in input and in the
  published-port chain, and nothing else accepts new inbound traffic.
- A packet test: a "published port" DNAT-ed to a container in a netns passes
  only from the allowed source and only for an allowed original port; the
  same holds for the host's own ports.

Needs root (network namespaces) and nft: this machine and CI have both; the
tests fail, not skip, without them.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest

from lostops import inventory as inventory_mod

CASES = [(inv, host) for inv in ("example", "lab") for host in inventory_mod.load(inv).hosts]
CONFIG = "/etc/nftables.conf"
DOCKER_LIKE = """
table ip filter {
	chain FORWARD { type filter hook forward priority filter; policy drop; }
	chain DOCKER-USER { return; }
}
table ip nat {
	chain PREROUTING { type nat hook prerouting priority dstnat; policy accept; }
}
"""
_ns_counter = itertools.count()


def _require_root_and_tools():
    if os.geteuid() != 0:
        pytest.fail("test_salt_firewall needs root (network namespaces); run the unit tests as root", pytrace=False)
    for tool in ("nft", "ip"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: apt-get install nftables iproute2", pytrace=False)


def _run(*cmd: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc


def _sh(ns: str, *cmd: str) -> subprocess.CompletedProcess:
    return _run("ip", "netns", "exec", ns, *cmd)


def _container_behind_bridge(host: str, ctr: str) -> None:
    """`ctr` behind a veth named like a Docker bridge (br-test, 172.30.0.1/24) in `host`."""
    _run("ip", "link", "add", "lfw-k", "netns", ctr, "type", "veth", "peer", "name", "br-test", "netns", host)
    _sh(host, "ip", "addr", "add", "172.30.0.1/24", "dev", "br-test")
    _sh(host, "ip", "link", "set", "br-test", "up")
    _sh(ctr, "ip", "addr", "add", "172.30.0.2/24", "dev", "lfw-k")
    _sh(ctr, "ip", "link", "set", "lfw-k", "up")
    _sh(ctr, "ip", "route", "add", "default", "via", "172.30.0.1")


@contextmanager
def netns(*names: str):
    full = [f"lofw{os.getpid() % 10000}-{next(_ns_counter)}-{n}" for n in names]
    try:
        for ns in full:
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        yield full
    finally:
        for ns in full:
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                subprocess.run(["kill", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _nft(ns: str, *args: str, input: str | None = None, check: bool = True):
    return _run("ip", "netns", "exec", ns, "nft", *args, input=input, check=check)


def _ruleset(highstate, managed_files, inventory, host) -> str:
    hs = highstate(host, inventory)
    assert "firewall-config-file-managed" in hs, f"{inventory}/{host}: no firewall-config-file-managed state"
    text = managed_files(host, inventory)[CONFIG]
    commands = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    assert not any(c.startswith("flush ruleset") for c in commands), "the ruleset must not flush Docker's tables"
    return text


# ---------------------------------------------------------------- nft JSON helpers


def _norm(value) -> list[str]:
    """Match right-hand side → list of normalized strings (addresses as a/len, ports, ranges)."""
    if isinstance(value, dict):
        if "prefix" in value:
            return [f"{value['prefix']['addr']}/{value['prefix']['len']}"]
        if "set" in value:
            return sorted(x for item in value["set"] for x in _norm(item))
        if "range" in value:
            lo, hi = value["range"]
            return [f"{lo}-{hi}"]
        return [json.dumps(value, sort_keys=True)]
    if isinstance(value, list):
        return sorted(x for item in value for x in _norm(item))
    text = str(value)
    try:
        return [str(ipaddress.ip_network(text))]
    except ValueError:
        return [text]


def _left(left: dict) -> str:
    if "payload" in left:
        return f"{left['payload']['protocol']}.{left['payload']['field']}"
    if "meta" in left:
        return f"meta.{left['meta']['key']}"
    if "ct" in left:
        ct = left["ct"]
        return "ct." + (f"{ct['dir']}." if ct.get("dir") else "") + ct["key"]
    return json.dumps(left, sort_keys=True)


def _rules(ns: str, chain: str) -> tuple[dict, list[dict]]:
    data = json.loads(_nft(ns, "-j", "list", "chain", "inet", "lostops", chain).stdout)["nftables"]
    meta = next(item["chain"] for item in data if "chain" in item)
    rules = []
    for item in data:
        if "rule" not in item:
            continue
        matches, verdict = {}, None
        for expr in item["rule"]["expr"]:
            if "match" in expr:
                matches[_left(expr["match"]["left"])] = _norm(expr["match"]["right"])
            for v in ("accept", "drop", "jump", "return"):
                if v in expr:
                    verdict = v if v != "jump" else f"jump {expr['jump']['target']}"
        rules.append({"match": matches, "verdict": verdict, "comment": item["rule"].get("comment", "")})
    return meta, rules


def _expected(rule: dict, original: bool) -> dict:
    port = rule["ports"]
    m = {}
    if not rule["from_anywhere"]:
        m["ip.saddr"] = sorted(str(ipaddress.ip_network(c)) for c in rule["cidrs"])
    if original:
        m["meta.l4proto"] = [rule["protocol"]]
        m["ct.original.proto-dst"] = [port]
    else:
        m[f"{rule['protocol']}.dport"] = [port]
    return m


def _pillar_rules(inventory: str, host: str) -> list[dict]:
    from lostops import policy

    return policy.firewall(inventory_mod.load(inventory), host)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize(("inventory", "host"), CASES)
def test_ruleset_loads_on_real_nft_next_to_docker(highstate, managed_files, tmp_path, inventory, host):
    _require_root_and_tools()
    text = _ruleset(highstate, managed_files, inventory, host)
    path = tmp_path / "nftables.conf"
    path.write_text(text)
    with netns("fw") as (ns,):
        _nft(ns, "-c", "-f", str(path))  # what check_cmd runs before the file is replaced
        _nft(ns, "-f", "-", input=DOCKER_LIKE)
        _nft(ns, "-f", str(path))  # first load: our table does not exist yet
        first = _nft(ns, "list", "table", "inet", "lostops").stdout
        _nft(ns, "-f", str(path))  # reload: replaces our table atomically
        assert _nft(ns, "list", "table", "inet", "lostops").stdout == first, "reloading changed the ruleset"
        tables = _nft(ns, "list", "tables").stdout.split("\n")
        assert "table ip filter" in tables and "table ip nat" in tables, f"Docker's tables did not survive: {tables}"

        pillar = _pillar_rules(inventory, host)
        assert pillar, f"{inventory}/{host}: no pillar firewall rules"

        # input: policy drop; accepts = essentials + exactly the pillar rules
        meta, rules = _rules(ns, "input")
        assert (meta["hook"], meta["policy"], meta["prio"]) == ("input", "drop", 0)
        essentials, found = [], []
        for r in rules:
            if r["verdict"] != "accept":
                continue
            m = r["match"]
            if m == {"meta.iif": ["lo"]} or m == {"ct.state": ["established", "related"]}:
                essentials.append(r)
            elif set(m) - {"meta.l4proto"} in ({"icmp.type"}, {"icmpv6.type"}):
                essentials.append(r)
            elif m == {"ip.saddr": ["@jit_ssh"], "tcp.dport": ["22"]}:
                essentials.append(r)  # just-in-time SSH set, empty at load (tests/unit/test_salt_firewall_jit.py)
            elif set(m) == {"meta.iifname"}:
                pytest.fail(f"input accepts everything from container bridge {m['meta.iifname']}", pytrace=False)
            else:
                found.append(m)
        expected = [_expected(p, original=False) for p in pillar]
        # From this host's containers: only the flows whose source is this host.
        expected += [
            {"meta.iifname": [iface], f"{p['protocol']}.dport": [p["ports"]]}
            for p in pillar
            if p["source"] == host
            for iface in ("docker0", "br-*")
        ]
        assert sorted(map(json.dumps, found)) == sorted(map(json.dumps, expected)), (
            f"input accepts other than the pillar rules:\n found {found}\n expected {expected}"
        )
        assert all(
            "ct.state" not in r["match"] or r["match"]["ct.state"] == ["established", "related"] for r in essentials
        )

        # forward: before Docker's chains, policy drop, DNAT-ed connections to `published`
        meta, rules = _rules(ns, "forward")
        assert (meta["hook"], meta["policy"], meta["prio"]) == ("forward", "drop", -1)
        verdicts = [(r["match"], r["verdict"]) for r in rules]
        assert ({"ct.status": ["dnat"]}, "jump published") in verdicts
        for m, v in verdicts:
            if v == "accept":
                assert m == {"ct.state": ["established", "related"]} or set(m) == {"meta.iifname"}, m

        _, rules = _rules(ns, "published")
        assert rules[-1]["verdict"] == "drop" and not rules[-1]["match"], "published chain must end with drop"
        found = [r["match"] for r in rules if r["verdict"] == "accept"]
        expected = [_expected(p, original=True) for p in pillar]
        assert sorted(map(json.dumps, found)) == sorted(map(json.dumps, expected))
        for p in pillar:
            assert any(p["reason"][:40].replace('"', "'") in r["comment"] for r in rules), f"no comment for {p['name']}"


_LISTENER = r"""
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"ok"); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""
_CONNECT = r"""
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def one(probe):
    src, addr, port = probe
    try:
        s = socket.create_connection((addr, port), timeout=1.5, source_address=(src, 0) if src else None)
        return s.recv(2).decode() == "ok"
    except OSError:
        return False
probes = json.loads(sys.argv[1])
with ThreadPoolExecutor(len(probes)) as pool:
    print(json.dumps(list(pool.map(one, probes))))
"""


def _connect_all(ns: str, probes: list[tuple[str | None, str, int]]) -> list[bool]:
    """Try every (source address or None, address, port) from `ns` at once; True where the listener answered.

    A dropped SYN waits for the timeout: trying them concurrently costs one timeout, not one each.
    """
    out = _run("ip", "netns", "exec", ns, sys.executable, "-c", _CONNECT, json.dumps(probes)).stdout
    return json.loads(out)


def test_published_ports_cannot_bypass_the_policy(highstate, managed_files, tmp_path):
    """database (example): 3306 is published by Docker (DNAT to a container), 2375 too.

    From the backend (allowed for mysql) 3306 passes, 2375 does not; from any
    other address neither passes. The host's own port 22 follows the same rule.
    """
    _require_root_and_tools()
    inv = inventory_mod.load("example")
    db_ip = str(inv.hosts["database"].private_ip)
    backend_ip = str(inv.hosts["backend"].private_ip)
    other_ip = str(ipaddress.ip_address(backend_ip) + 99)
    path = tmp_path / "nftables.conf"
    path.write_text(_ruleset(highstate, managed_files, "example", "database"))
    with netns("host", "ctr", "cli") as (host, ctr, cli):
        sh = _sh
        # client --(veth)-- host --(veth named br-test: a Docker bridge)-- container
        _run("ip", "link", "add", "lfw-c", "netns", cli, "type", "veth", "peer", "name", "eth0", "netns", host)
        _container_behind_bridge(host, ctr)
        sh(cli, "ip", "addr", "add", f"{backend_ip}/24", "dev", "lfw-c")
        sh(cli, "ip", "addr", "add", f"{other_ip}/24", "dev", "lfw-c")
        sh(cli, "ip", "link", "set", "lfw-c", "up")
        sh(host, "ip", "addr", "add", f"{db_ip}/24", "dev", "eth0")
        sh(host, "ip", "link", "set", "eth0", "up")
        sh(host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # What Docker does for `ports: ["<ip>:3306:3306", "2375:2375"]`: DNAT, then accept in its FORWARD.
        _nft(
            host,
            "-f",
            "-",
            input=f"""
table ip nat {{
	chain PREROUTING {{ type nat hook prerouting priority dstnat; policy accept;
		ip daddr {db_ip} tcp dport 3306 dnat to 172.30.0.2:3306
		tcp dport 2375 dnat to 172.30.0.2:2375
	}}
	chain POSTROUTING {{ type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" ip saddr 172.30.0.0/24 masquerade
	}}
}}
table ip filter {{
	chain FORWARD {{ type filter hook forward priority filter; policy drop;
		oifname "br-test" ip daddr 172.30.0.2 tcp dport {{ 3306, 2375 }} accept
		iifname "br-test" accept
		ct state established,related accept
	}}
}}
""",
        )
        _nft(host, "-f", str(path))
        listeners = [
            subprocess.Popen(
                ["ip", "netns", "exec", ctr, sys.executable, "-c", _LISTENER, "3306", "2375"],
                stdout=subprocess.PIPE,
                text=True,
            ),
            subprocess.Popen(
                ["ip", "netns", "exec", host, sys.executable, "-c", _LISTENER, "22", "9999"],
                stdout=subprocess.PIPE,
                text=True,
            ),
        ]
        try:
            for p in listeners:
                assert p.stdout.readline().strip() == "ready"

            flows = [
                ("backend", 3306),
                ("backend", 2375),
                ("other", 3306),
                ("backend", 22),
                ("other", 22),
                ("backend", 9999),
            ]
            source = {"backend": backend_ip, "other": other_ip}
            answered = _connect_all(cli, [(source[who], db_ip, port) for who, port in flows])
            results = dict(zip(flows, answered, strict=True))
        finally:
            for p in listeners:
                p.terminate()
        assert results == {
            ("backend", 3306): True,  # published, allowed flow (mysql from backend)
            ("backend", 2375): False,  # published by Docker, but no flow allows it
            ("other", 3306): False,  # published, wrong source
            ("backend", 22): True,  # host port, allowed (ssh from backend)
            ("other", 22): False,
            ("backend", 9999): False,  # host port, not in the policy
        }, results


def test_containers_reach_only_the_flows_this_host_allows_from_itself(highstate, managed_files, tmp_path):
    """monitoring (example): a container on a Docker bridge reaches this host's
    node-exporter (the policy allows node-exporter from monitoring itself: its
    Prometheus container scrapes it), but not sshd nor any other host port.
    """
    _require_root_and_tools()
    inv = inventory_mod.load("example")
    mon_ip = str(inv.hosts["monitoring"].private_ip)
    allowed = {(r["ports"], r["source"]) for r in _pillar_rules("example", "monitoring")}
    assert ("9100", "monitoring") in allowed and ("22", "admins") in allowed, allowed
    path = tmp_path / "nftables.conf"
    path.write_text(_ruleset(highstate, managed_files, "example", "monitoring"))
    with netns("host", "ctr") as (host, ctr):
        sh = _sh
        # host --(veth named br-test: a Docker bridge)-- container; the host's
        # private address sits on its own NIC (a veth pair standing in for it).
        _container_behind_bridge(host, ctr)
        sh(host, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
        sh(host, "ip", "addr", "add", f"{mon_ip}/24", "dev", "eth0")
        sh(host, "ip", "link", "set", "eth0", "up")
        _nft(host, "-f", str(path))
        listener = subprocess.Popen(
            ["ip", "netns", "exec", host, sys.executable, "-c", _LISTENER, "22", "9100", "9999"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout.readline().strip() == "ready"

            flows = [(addr, port) for addr in (mon_ip, "172.30.0.1") for port in (22, 9100, 9999)]
            answered = _connect_all(ctr, [(None, addr, port) for addr, port in flows])
            results = dict(zip(flows, answered, strict=True))
        finally:
            listener.terminate()
        assert results == {
            (mon_ip, 22): False,  # sshd: admins only, never from a container
            (mon_ip, 9100): True,  # node-exporter: allowed from monitoring itself
            (mon_ip, 9999): False,  # not in the policy
            ("172.30.0.1", 22): False,  # the bridge's own address: same rules
            ("172.30.0.1", 9100): True,
            ("172.30.0.1", 9999): False,
        }, results


def test_docs_describe_the_input_chain_as_rendered(highstate, managed_files):
    """docs/salt.md once said the input chain accepts all traffic from Docker bridges; the
    rendered chain accepts only the policy's flows from this host there."""
    from pathlib import Path

    text = _ruleset(highstate, managed_files, "example", "monitoring")
    chain = text.split("chain input", 1)[1].split("chain forward", 1)[0]
    bridge_rules = [line.strip() for line in chain.splitlines() if line.strip().startswith("iifname")]
    assert bridge_rules and all(" dport " in r for r in bridge_rules), bridge_rules
    docs = (Path(__file__).resolve().parents[2] / "docs" / "salt.md").read_text(encoding="utf-8")
    section = docs.split("- **input** (policy drop) accepts:", 1)[1].split("- **forward**", 1)[0]
    assert "only the flows the policy allows" in section, section
