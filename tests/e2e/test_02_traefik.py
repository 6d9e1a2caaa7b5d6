"""2. The REAL Traefik 3.5.3 (lab image, tests/lab/images/traefik.py) from the internet side.

Certificates come by ACME HTTP-01 from the lab's Pebble (tests/lab/outer.py,
`traefik:acme:ca_servers:production` in pillar/overrides/lab/traefik.sls);
every request is made from the outer machine bound to the lab's "internet"
address (10.77.0.200), with the host's IP and the lab DNS name as SNI/Host.
Server certificates are verified against Pebble's issuing root, fetched from
Pebble's management API (itself verified with the lab's ACME CA).
"""

from __future__ import annotations

import ssl
import time

import pytest

from tests.e2e import labenv, tls
from tests.e2e.summary import SUMMARY
from tests.e2e.tls import http_get, https_get, pebble_roots, tls_connect, verified_ctx

NAMES = tls.lab_names()  # {name: address}: the lab inventory's hosts.<h>.dns
APP = tls.name_of("app.")
ISSUE_TIMEOUT = 120


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
        for name, ip in NAMES.items():
            if name in got:
                continue
            try:
                with tls_connect(ip, name, ctx) as s:
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
    problems = [f"no verified certificate within {ISSUE_TIMEOUT} s for {missing}"] if missing else []
    SUMMARY.conclude(
        "traefik acme",
        problems,
        lambda: (
            f"{len(got)}/{len(NAMES)} names serve a certificate issued by ACME HTTP-01 from Pebble "
            f"(verified against Pebble's root; issuer {', '.join(sorted({i for i, _ in got.values()}))})"
        ),
    )


@pytest.mark.summary("traefik http/tls")
def test_redirect_tls_versions_hsts_unknown_host_and_app_through_traefik(certs, roots):
    problems, facts = [], []
    ctx = verified_ctx(roots)
    backend = labenv.host_ip("backend")
    # http:// -> permanent redirect to https://
    for name, ip in NAMES.items():
        status, headers = http_get(ip, name, "/some/path?q=1")
        loc = headers.get("location", "")
        if status not in (301, 308) or not loc.startswith(f"https://{name}"):
            problems.append(f"http://{name}/ -> {status} {loc!r}, want 301/308 to https://{name}")
    facts.append("http -> permanent redirect to https")
    # the app THROUGH Traefik (its database query over TLS answered)
    status, headers, body = https_get(backend, APP, "/", ctx)
    if status != 200 or b"counter sum:" not in body:
        problems.append(f"https://{APP}/ -> {status} {body[:80]!r}")
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
            with tls_connect(backend, APP, c) as s:
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
        with tls_connect(backend, APP, c) as s:
            problems.append(f"TLS 1.2 with an unconfigured suite accepted: {s.cipher()[0]}")
    except ssl.SSLError as exc:
        facts.append(f"TLS 1.2 CBC/RSA-kx suites refused ({exc.reason})")
    # an unknown Host gets no app: no certificate (sniStrict) or no route
    try:
        status, _, body = https_get(backend, "unknown." + APP.split(".", 1)[1], "/", ssl._create_unverified_context())
        if status == 200:
            problems.append(f"unknown host got 200: {body[:80]!r}")
        facts.append(f"unknown host -> {status}")
    except (OSError, ssl.SSLError) as exc:
        facts.append(f"unknown host -> handshake refused ({getattr(exc, 'reason', exc)})")
    # the dashboard/API is not reachable from outside
    for path in ("/dashboard/", "/api/rawdata", "/api/overview"):
        status, _, _ = https_get(backend, APP, path, ctx)
        if status == 200:
            problems.append(f"{path} answered 200 from the internet")
    SUMMARY.conclude("traefik http/tls", problems, "; ".join(facts))
