"""2. The REAL Traefik 3.5.3 (lab image, tests/lab/images.py) from the internet side.

Certificates come by ACME HTTP-01 from the lab's Pebble (tests/lab/outer.py,
`traefik:acme:ca_servers:production` in pillar/overrides/lab/traefik.sls);
every request is made from the outer machine bound to the lab's "internet"
address (10.77.0.200), with the host's IP and the lab DNS name as SNI/Host.
Server certificates are verified against Pebble's issuing root, fetched from
Pebble's management API (itself verified with the lab's ACME CA).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import sys
import time

import pytest

from tests.e2e import lib

sys.path.insert(0, str(lib.REPO / "tests" / "lab"))
import outer

NAMES = {  # lab inventory: hosts.<h>.dns
    "app.lab.lostops.test": "backend",
    "grafana.lab.lostops.test": "monitoring",
    "prometheus.lab.lostops.test": "monitoring",
}
ISSUE_TIMEOUT = 120


def pebble_roots() -> str:
    """PEM of Pebble's current issuing root (+ intermediates are sent by Traefik)."""
    ca = outer.lab_ca(lib.labctl.CACHE)[0]
    ctx = ssl.create_default_context(cafile=str(ca))
    c = http.client.HTTPSConnection(lib.ADMIN_IP, outer.PEBBLE_MGMT_PORT, context=ctx, timeout=5)
    c.request("GET", "/roots/0")
    r = c.getresponse()
    assert r.status == 200, f"Pebble /roots/0: {r.status}"
    return r.read().decode()


def tls_connect(ip: str, name: str | None, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection((ip, 443), timeout=5, source_address=(lib.INTERNET_IP, 0))
    return ctx.wrap_socket(raw, server_hostname=name)


def verified_ctx(roots: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=roots)
    return ctx


def https_get(ip: str, name: str, path: str, ctx: ssl.SSLContext) -> tuple[int, dict, bytes]:
    """GET over TLS to ip:443 with SNI and Host = name (no DNS on the outer machine)."""
    with tls_connect(ip, name, ctx) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def http_get(ip: str, name: str, path: str = "/") -> tuple[int, dict]:
    c = http.client.HTTPConnection(ip, 80, timeout=5, source_address=(lib.INTERNET_IP, 0))
    c.request("GET", path, headers={"Host": name})
    r = c.getresponse()
    r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}


@pytest.fixture(scope="module")
def roots(converged):
    return pebble_roots()


@pytest.fixture(scope="module")
def certs(roots):
    """name -> (issuer, notAfter) once Traefik serves an ACME certificate for it."""
    ctx = verified_ctx(roots)
    got, last = {}, {}
    deadline = time.monotonic() + ISSUE_TIMEOUT
    while len(got) < len(NAMES) and time.monotonic() < deadline:
        for name, host in NAMES.items():
            if name in got:
                continue
            try:
                with tls_connect(lib.host_ip(host), name, ctx) as s:
                    cert = s.getpeercert()
                    got[name] = (dict(x[0] for x in cert["issuer"]).get("commonName"), cert["notAfter"])
            except (OSError, ssl.SSLError) as exc:
                last[name] = str(exc)
        if len(got) < len(NAMES):
            time.sleep(2)
    return got, last


@pytest.mark.summary("traefik acme")
def test_certificates_obtained_by_acme_from_pebble(certs):
    got, last = certs
    missing = {n: last.get(n) for n in NAMES if n not in got}
    if missing:
        lib.SUMMARY.failed("traefik acme", f"no verified certificate within {ISSUE_TIMEOUT} s for {missing}")
    else:
        issuers = sorted({i for i, _ in got.values()})
        lib.SUMMARY.ok(
            "traefik acme",
            f"{len(got)}/{len(NAMES)} names serve a certificate issued by ACME HTTP-01 from Pebble "
            f"(verified against Pebble's root; issuer {', '.join(issuers)})",
        )
    assert not missing


@pytest.mark.summary("traefik http/tls")
def test_redirect_tls_versions_hsts_unknown_host_and_app_through_traefik(certs, roots):
    problems, facts = [], []
    ctx = verified_ctx(roots)
    backend = lib.host_ip("backend")
    # http:// -> permanent redirect to https://
    for name, host in NAMES.items():
        status, headers = http_get(lib.host_ip(host), name, "/some/path?q=1")
        loc = headers.get("location", "")
        if status not in (301, 308) or not loc.startswith(f"https://{name}"):
            problems.append(f"http://{name}/ -> {status} {loc!r}, want 301/308 to https://{name}")
    facts.append("http -> permanent redirect to https")
    # the app THROUGH Traefik (its database query over TLS answered)
    status, headers, body = https_get(backend, "app.lab.lostops.test", "/", ctx)
    if status != 200 or b"counter sum:" not in body:
        problems.append(f"https://app.lab.lostops.test/ -> {status} {body[:80]!r}")
    hsts = headers.get("strict-transport-security", "")
    if "max-age=" not in hsts:
        problems.append(f"no HSTS header on the app: {headers}")
    facts.append(f"app 200 through Traefik, HSTS {hsts!r}")
    # TLS versions: 1.0/1.1 refused, 1.2/1.3 accepted
    for version, want in (
        (ssl.TLSVersion.TLSv1, False),
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(cadata=roots)
        c.set_ciphers("ALL:@SECLEVEL=0")
        c.minimum_version = c.maximum_version = version
        try:
            with tls_connect(backend, "app.lab.lostops.test", c) as s:
                ok, detail = True, f"{s.version()} {s.cipher()[0]}"
        except ssl.SSLError as exc:
            ok, detail = False, exc.reason or str(exc)
        if ok != want:
            problems.append(f"{version.name}: {'accepted' if ok else 'refused'} ({detail})")
        elif not ok and "ALERT_PROTOCOL_VERSION" not in detail:
            # refused by this client, not by Traefik: proves nothing
            problems.append(f"{version.name}: no protocol_version alert from the server ({detail})")
        facts.append(f"{version.name} {detail if ok else 'refused by the server'}")
    # TLS 1.2 with only suites outside the configured list (CBC, RSA key exchange): refused
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(cadata=roots)
    c.minimum_version = c.maximum_version = ssl.TLSVersion.TLSv1_2
    c.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA:AES128-GCM-SHA256")
    try:
        with tls_connect(backend, "app.lab.lostops.test", c) as s:
            problems.append(f"TLS 1.2 with an unconfigured suite accepted: {s.cipher()[0]}")
    except ssl.SSLError as exc:
        facts.append(f"TLS 1.2 CBC/RSA-kx suites refused ({exc.reason})")
    # an unknown Host gets no app: no certificate (sniStrict) or no route
    try:
        status, _, body = https_get(backend, "unknown.lab.lostops.test", "/", ssl._create_unverified_context())
        if status == 200:
            problems.append(f"unknown host got 200: {body[:80]!r}")
        facts.append(f"unknown host -> {status}")
    except (OSError, ssl.SSLError) as exc:
        facts.append(f"unknown host -> handshake refused ({getattr(exc, 'reason', exc)})")
    # the dashboard/API is not reachable from outside
    for path in ("/dashboard/", "/api/rawdata", "/api/overview"):
        status, _, _ = https_get(backend, "app.lab.lostops.test", path, ctx)
        if status == 200:
            problems.append(f"{path} answered 200 from the internet")
    if problems:
        lib.SUMMARY.failed("traefik http/tls", " | ".join(problems))
    else:
        lib.SUMMARY.ok("traefik http/tls", "; ".join(facts))
    assert not problems, "\n".join(problems)
