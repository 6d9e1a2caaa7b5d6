"""HTTPS to the lab hosts from the lab's "internet" address, as a client on the internet would.

No DNS on the outer machine: a request goes to the host's address with the lab
name as SNI and Host. Certificates are verified against the current issuing
root of the lab's Pebble ACME server (new at every Pebble start), fetched over
its API, which is itself verified against the lab's own CA.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from lostops import inventory
from tests.e2e import labenv
from tests.lab import outer, settings


def lab_names() -> dict[str, str]:
    """{DNS name: private address} of the lab inventory's hosts (Traefik's routers)."""
    return {
        name: str(host.private_ip) for host in inventory.load(settings.INVENTORY).hosts.values() for name in host.dns
    }


def name_of(prefix: str) -> str:
    """The lab inventory's DNS name starting with `prefix` ("app." -> app.lab.lostops.test)."""
    (name,) = [n for n in lab_names() if n.startswith(prefix)]
    return name


def pebble_roots() -> str:
    """PEM of Pebble's current issuing root (Traefik sends the intermediates)."""
    ctx = ssl.create_default_context(cafile=str(outer.lab_ca(settings.CACHE)[0]))
    conn = http.client.HTTPSConnection(labenv.ADMIN_IP, outer.PEBBLE_MGMT_PORT, context=ctx, timeout=5)
    conn.request("GET", "/roots/0")
    resp = conn.getresponse()
    if resp.status != 200:
        raise AssertionError(f"Pebble /roots/0 answered {resp.status}")
    return resp.read().decode()


def verified_ctx(roots: str) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=roots)


def tls_connect(ip: str, name: str | None, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection((ip, 443), timeout=5, source_address=(labenv.INTERNET_IP, 0))
    return ctx.wrap_socket(raw, server_hostname=name)


def serves_verified(ip: str, name: str, roots: str) -> bool:
    """Does ip:443 present a certificate for `name` that chains to `roots`?"""
    try:
        with tls_connect(ip, name, verified_ctx(roots)):
            return True
    except (OSError, ssl.SSLError):
        return False


def https_get(ip: str, name: str, path: str, ctx: ssl.SSLContext) -> tuple[int, dict, bytes]:
    """GET over TLS to ip:443 with SNI and Host = name."""
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
    """Plain HTTP GET to ip:80 with Host = name."""
    c = http.client.HTTPConnection(ip, 80, timeout=5, source_address=(labenv.INTERNET_IP, 0))
    c.request("GET", path, headers={"Host": name})
    r = c.getresponse()
    r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}
