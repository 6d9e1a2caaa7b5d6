"""5. The access matrix (tests/access-matrix.yaml) with real packets.

For every row (source, destination, port): a connection is attempted FROM the
source: from a lab host with a tiny python3 probe over ssh; "internet" is the
outer machine bound to 10.77.0.200, "admin" the outer machine bound to
10.77.0.1 (the lab inventory's only admin source). 2 s timeout.

allow: the TCP handshake completes (UDP: the echo comes back).
deny:  anything else (timeout, refused, unreachable).

A deny only proves the firewall if something listens: before probing, every
(destination, port) the matrix names gets a REAL listener. Ports the converged
hosts already serve (sshd, the stand-in containers published by Docker on
3306, 9104, 8080, 80, 443, 8082, host-network node_exporter on 9100) are
probed as they are, which proves that published ports cannot bypass the host
firewall. Any other port gets a temporary listener (python3 on the host's
private IP, a transient systemd unit) that is stopped afterwards. UDP rows get
a temporary UDP echo listener, checked from the destination itself first.
"""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.e2e import labenv, probes
from tests.e2e.summary import SUMMARY

UNIT = "lostops-e2e-listen"


def matrix_flows() -> list[dict]:
    rows = yaml.safe_load(labenv.ACCESS_MATRIX.read_text())
    flows = []
    for row in rows:
        for port in row["ports"]:
            flows.append(
                {
                    "from": row["from"],
                    "to": row["to"],
                    "port": int(port),
                    "proto": row.get("protocol", "tcp"),
                    "expect": row["expect"],
                }
            )
    return flows


def _start_listeners(lab, host: str, tcp_ports: set[int], udp_ports: set[int]) -> list[str]:
    ip = labenv.host_ip(host)
    cmds = []
    for port in sorted(tcp_ports):
        cmds.append(
            f"systemd-run --quiet --collect --unit={UNIT}-tcp-{port} "
            f"python3 -m http.server {port} --bind {ip} --directory /var/empty"
        )
    for port in sorted(udp_ports):
        cmds.append(
            f"systemd-run --quiet --collect --unit={UNIT}-udp-{port} python3 -c {shlex.quote(probes.UDP_ECHO)} {ip} {port}"
        )
    if not cmds:
        return []
    r = lab.run(host, "mkdir -p /var/empty; " + " && ".join(cmds), timeout=60)
    assert r.returncode == 0, f"{host}: cannot start temporary listeners: {r.stderr.strip()}"
    # wait until they listen
    want = {("tcp", p) for p in tcp_ports} | {("udp", p) for p in udp_ports}

    def listening():
        out = lab.run(host, "ss -Hltn; echo ---; ss -Hlun", timeout=30).stdout
        tcp_txt, _, udp_txt = out.partition("---")
        have = {("tcp", x.port) for x in probes.parse_ss(tcp_txt)} | {("udp", x.port) for x in probes.parse_ss(udp_txt)}
        return want <= have

    assert probes.wait_for(listening, 20, 0.3), f"{host}: temporary listeners did not come up"
    return [f"{host}:{p}/tcp" for p in sorted(tcp_ports)] + [f"{host}:{p}/udp" for p in sorted(udp_ports)]


def _stop_listeners(lab, host: str) -> None:
    lab.run(
        host, f"systemctl stop '{UNIT}-*' 2>/dev/null; systemctl reset-failed '{UNIT}-*' 2>/dev/null; true", timeout=60
    )


def _probe(lab, source: str, targets: list[tuple[str, str, int]]) -> dict[str, str]:
    if source == "internet":
        return probes.probe_local(targets, labenv.INTERNET_IP)
    if source == "admin":
        return probes.probe_local(targets, labenv.ADMIN_IP)
    return probes.probe_from_host(lab, source, targets)


@pytest.mark.summary("matrix")
def test_access_matrix_with_real_packets(lab, converged):
    flows = matrix_flows()
    # Which (host, port) already has a listener reachable on the private IP?
    served = {}
    for host in labenv.HOSTS:
        ip = labenv.host_ip(host)
        served[host] = {x.port for x in probes.exposed(probes.listeners(lab, host)) if x.wildcard or x.addr == ip}
    need_tcp = {h: set() for h in labenv.HOSTS}
    need_udp = {h: set() for h in labenv.HOSTS}
    for f in flows:
        if f["proto"] == "tcp" and f["port"] not in served[f["to"]]:
            need_tcp[f["to"]].add(f["port"])
        if f["proto"] == "udp":
            need_udp[f["to"]].add(f["port"])
    temp: list[str] = []
    results: dict[tuple, str] = {}
    t0 = time.monotonic()
    try:
        for h in labenv.HOSTS:
            temp += _start_listeners(lab, h, need_tcp[h], need_udp[h])
        # the UDP echo listeners answer locally (else a UDP deny would prove nothing)
        for h in labenv.HOSTS:
            if need_udp[h]:
                own = probes.probe_from_host(lab, h, [("udp", labenv.host_ip(h), p) for p in sorted(need_udp[h])])
                dead = [k for k, v in own.items() if v != "connected"]
                assert not dead, f"{h}: temporary UDP echo listeners do not answer locally: {dead}"
        by_source: dict[str, list] = {}
        for f in flows:
            by_source.setdefault(f["from"], []).append((f["proto"], labenv.host_ip(f["to"]), f["port"]))
        with ThreadPoolExecutor(max_workers=len(by_source)) as pool:
            futs = {src: pool.submit(_probe, lab, src, sorted(set(t))) for src, t in by_source.items()}
            for src, fut in futs.items():
                for key, val in fut.result().items():
                    results[(src, key)] = val
    finally:
        for h in labenv.HOSTS:
            _stop_listeners(lab, h)
    probe_s = time.monotonic() - t0

    bad, counts = [], {"tcp": [0, 0], "udp": [0, 0]}
    for f in flows:
        key = f"{f['proto']}/{labenv.host_ip(f['to'])}:{f['port']}"
        got = results.get((f["from"], key), "not probed")
        ok = (got == "connected") if f["expect"] == "allow" else (got not in ("connected", "not probed"))
        counts[f["proto"]][0] += 1
        counts[f["proto"]][1] += ok
        if not ok:
            bad.append(f"{f['from']} -> {f['to']}:{f['port']}/{f['proto']}: expected {f['expect']}, got {got}")
    tcp_n, tcp_ok = counts["tcp"]
    udp_n, udp_ok = counts["udp"]
    allow = sum(1 for f in flows if f["proto"] == "tcp" and f["expect"] == "allow")
    detail = (
        f"{allow} allow, {tcp_n - allow} deny; {len([t for t in temp if t.endswith('/tcp')])} temporary TCP listeners, "
        f"the rest real services; {probe_s:.1f} s"
    )
    if tcp_ok == tcp_n:
        SUMMARY.ok("matrix", f"{tcp_ok}/{tcp_n} flows as expected (TCP: {detail})")
    else:
        SUMMARY.failed("matrix", f"{tcp_ok}/{tcp_n} TCP flows as expected; " + "; ".join(b for b in bad if "/tcp" in b))
    if udp_n:
        if udp_ok == udp_n:
            SUMMARY.ok(
                "matrix udp",
                f"{udp_ok}/{udp_n} UDP flows as expected (all deny; UDP echo listeners answered locally, no reply from the source)",
            )
        else:
            SUMMARY.failed("matrix udp", f"{udp_ok}/{udp_n}; " + "; ".join(b for b in bad if "/udp" in b))
    print(f"temporary listeners: {temp}")
    assert not bad, f"{len(bad)} of {len(flows)} flows differ from tests/access-matrix.yaml:\n  " + "\n  ".join(bad)
