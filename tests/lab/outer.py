"""Services of the OUTER machine for the lab, bound to the bridge address only.

Started by ``labctl up`` (each in the lab's cgroup tree, so ``down`` kills
them and ``check-clean`` sees a leftover), never reachable from outside the
machine:

- ``webhook``: a Discord-webhook receiver, http://10.77.0.1:9099/ and
  https://10.77.0.1:443/ (certificate for discord.com and discordapp.com,
  issued by the lab's CA ``lab_ca``, which the lab Alertmanager image trusts;
  the lab pillar maps discord.com to 10.77.0.1 in the alertmanager container,
  so the production secret ``https://discord.com/api/webhooks/...`` lands
  here). Every POST (any path, e.g. ``/api/webhooks/<id>/<token>``) is
  appended as one JSON line (time, path, content type, user agent, scheme,
  body parsed as JSON when it is JSON) to ``.lab/outer/webhook.jsonl`` and
  answered ``204 No Content`` like Discord; ``GET /requests`` returns the
  recorded list.
- ``pebble-challtestsrv`` (shipped by Debian's pebble package) as the DNS
  server Pebble asks (10.77.0.1:8053): A records for every ``hosts.<h>.dns``
  name of ``pillar/inventory/lab.yaml`` (-> the host's private IP), added
  over its management API (10.77.0.1:8055) at start; no default address.
- Pebble 2.6.0 (Let's Encrypt's ACME test server, Debian trixie's package,
  unpacked by the image build: ``images.pebble_binary``): ACME directory
  https://10.77.0.1:14000/dir with a TLS certificate for 10.77.0.1 issued by
  the lab's ACME CA (``lab_ca``; the lab Traefik image trusts it through
  LEGO_CA_CERTIFICATES), HTTP-01 on port 80 of the hosts
  (``httpPort: 80``), ``PEBBLE_VA_NOSLEEP=1``, ``PEBBLE_WFE_NONCEREJECT=0``.
  Its issuing root (new at every start) is at
  https://10.77.0.1:15000/roots/0.

Run as ``python -m tests.lab.outer webhook ...`` (from the repository); labctl starts all three.
"""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.lab.settings import CACHE

WEBHOOK_PORT = 9099
WEBHOOK_TLS_PORT = 443
# The names the webhook's HTTPS certificate is for (lostops/secrets.py accepts both).
DISCORD_NAMES = ("discord.com", "discordapp.com")
DNS_PORT = 8053
DNS_MGMT_PORT = 8055
PEBBLE_PORT = 14000
PEBBLE_MGMT_PORT = 15000


# ------------------------------------------------------------------ webhook --
def webhook(bind: str, port: int, out: Path, tls_port: int = 0, cache: Path | None = None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            rec = {
                "time": time.time(),
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "user_agent": self.headers.get("User-Agent"),
                "scheme": "https" if isinstance(self.connection, ssl.SSLSocket) else "http",
                "host": self.headers.get("Host"),
                "body": body,
            }
            with lock, open(out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            if self.path.rstrip("/") != "/requests":
                self.send_response(404)
                self.end_headers()
                return
            with lock:
                lines = out.read_text().splitlines() if out.exists() else []
            data = json.dumps([json.loads(line) for line in lines]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            sys.stderr.write("webhook: " + (fmt % args) + "\n")

    if tls_port:
        # Bound before the plain port: labctl's readiness check (the plain
        # port answers) then also means HTTPS is up.
        cert, key = server_cert(cache or CACHE, out.parent, "discord", [f"DNS:{n}" for n in DISCORD_NAMES])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls = ThreadingHTTPServer((bind, tls_port), H)
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
    ThreadingHTTPServer((bind, port), H).serve_forever()


def lab_records(inventory: str = "lab") -> dict[str, str]:
    """name -> private IP for every dns name of the lab inventory (lostops.inventory, the project venv)."""
    from lostops.inventory import load

    return {
        name.lower().rstrip("."): str(host.private_ip) for host in load(inventory).hosts.values() for name in host.dns
    }


# ------------------------------------------------------------ lab ACME CA --
def lab_ca(cache: Path) -> tuple[Path, Path]:
    """The lab's own CA (cached): signs Pebble's API certificate. (cert, key)."""
    d = cache / "acme-ca"
    cert, key = d / "ca.pem", d / "ca.key"
    if not (cert.exists() and key.exists()):
        d.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-days", "3650", "-subj", "/CN=lostops lab ACME server CA (test only)",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True, capture_output=True,
        )  # fmt: skip
        key.chmod(0o600)
    return cert, key


def pebble_cert(cache: Path, out: Path, ip: str) -> tuple[Path, Path]:
    """Pebble's HTTPS certificate for ``ip``, signed by lab_ca (written to ``out``)."""
    return server_cert(cache, out, "pebble-api", [f"IP:{ip}", "DNS:localhost"])


def server_cert(cache: Path, out: Path, stem: str, sans: list[str]) -> tuple[Path, Path]:
    """A TLS server certificate for ``sans`` (``DNS:x``/``IP:y``), signed by lab_ca,
    written to ``out/<stem>.pem`` and ``.key``; new at every call (30 days)."""
    ca, ca_key = lab_ca(cache)
    out.mkdir(parents=True, exist_ok=True)
    cert, key, ext = out / f"{stem}.pem", out / f"{stem}.key", out / f"{stem}.ext"
    ext.write_text(f"subjectAltName={','.join(sans)}\nextendedKeyUsage=serverAuth\n")
    csr = out / f"{stem}.csr"
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", f"/CN={sans[0].split(':', 1)[1]}", "-keyout", str(key), "-out", str(csr)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "30", "-extfile", str(ext), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def pebble_config(out: Path, bind: str, cert: Path, key: Path) -> Path:
    cfg = {
        "pebble": {
            "listenAddress": f"{bind}:{PEBBLE_PORT}",
            "managementListenAddress": f"{bind}:{PEBBLE_MGMT_PORT}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    p = out / "pebble-config.json"
    p.write_text(json.dumps(cfg, indent=1) + "\n")
    return p


PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}


def challtestsrv_args(binary: Path, bind: str) -> list[str]:
    return [
        str(binary),
        "-dns01", f"{bind}:{DNS_PORT}",
        "-management", f"{bind}:{DNS_MGMT_PORT}",
        "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
        "-defaultIPv4", "", "-defaultIPv6", "",
    ]  # fmt: skip


def add_records(bind: str, records: dict[str, str]) -> None:
    import urllib.request

    for name, ip in sorted(records.items()):
        req = urllib.request.Request(
            f"http://{bind}:{DNS_MGMT_PORT}/add-a",
            data=json.dumps({"host": name + ".", "addresses": [ip]}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("webhook")
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, default=WEBHOOK_PORT)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tls-port", type=int, default=WEBHOOK_TLS_PORT, help="HTTPS as discord.com; 0: off")
    p.add_argument("--cache", type=Path, default=CACHE, help="lab cache (the lab CA)")
    a = ap.parse_args(argv)
    webhook(a.bind, a.port, a.out, a.tls_port, a.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
