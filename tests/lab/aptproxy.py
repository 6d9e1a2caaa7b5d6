"""A tiny forwarding HTTP proxy for apt inside the lab hosts.

The lab hosts have no default route. apt inside them is configured with
``Acquire::http::Proxy "http://10.77.0.1:<port>"``; this proxy listens only on
the lab bridge address and forwards plain-HTTP GET/HEAD requests ONLY to the
Debian mirror host(s) the outer machine itself uses. Everything else gets 403.
CONNECT (https) is refused.

Downloaded ``.deb`` files (immutable, under ``/pool/``) are kept in a disk
cache so repeated lab runs do not fetch them again.

(apt-cacher-ng answered ``503 Host not found`` on this machine kind, hence this.)
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lostops-lab-aptproxy"
    allowed: ClassVar[set[str]] = set()
    cache_dir: Path | None = None
    timeout = 120

    def log_message(self, fmt, *args):  # one line per request to stderr (log file)
        sys.stderr.write(f"{self.client_address[0]} {fmt % args}\n")

    def _deny(self, code: int, msg: str) -> None:
        body = (msg + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_CONNECT(self):
        self.close_connection = True
        self._deny(403, "CONNECT is not allowed by the lab proxy")

    def do_POST(self):
        self.close_connection = True
        self._deny(405, "only GET/HEAD")

    do_PUT = do_DELETE = do_POST

    def do_HEAD(self):
        self.do_GET()

    def _cache_path(self, host: str, path: str) -> Path | None:
        if self.cache_dir is None or self.command != "GET":
            return None
        if "/pool/" not in path or not path.endswith(".deb"):
            return None
        key = hashlib.sha256(f"{host}{path}".encode()).hexdigest()
        return self.cache_dir / key[:2] / (key + ".deb")

    def _serve_file(self, p: Path) -> None:
        size = p.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.debian.binary-package")
        self.send_header("Content-Length", str(size))
        self.send_header("X-Lab-Cache", "HIT")
        self.end_headers()
        with open(p, "rb") as fh:
            shutil.copyfileobj(fh, self.wfile, 1 << 20)

    def do_GET(self):
        parts = urlsplit(self.path)
        host = (parts.hostname or "").lower()
        if parts.scheme != "http" or host not in self.allowed or (parts.port not in (None, 80)):
            self._deny(403, f"lab proxy forwards only to {sorted(self.allowed)}")
            return
        path = parts.path + (("?" + parts.query) if parts.query else "")
        cpath = self._cache_path(host, parts.path)
        if cpath is not None and cpath.is_file():
            self._serve_file(cpath)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = host
        try:
            conn = http.client.HTTPConnection(host, 80, timeout=60)
            conn.request(self.command, path, headers=headers)
            resp = conn.getresponse()
        except OSError as exc:
            self._deny(502, f"upstream error: {exc}")
            return
        try:
            length = resp.getheader("Content-Length")
            body = None
            if length is None and self.command != "HEAD":
                body = resp.read()
                length = str(len(body))
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            if self.command == "HEAD":
                return
            if body is not None:
                self.wfile.write(body)
                return
            tmpf = None
            if cpath is not None and resp.status == 200:
                cpath.parent.mkdir(parents=True, exist_ok=True)
                tmpf = open(f"{cpath}.{threading.get_ident()}.part", "wb")
            remaining = int(length)
            while remaining > 0:
                chunk = resp.read(min(1 << 20, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                if tmpf:
                    tmpf.write(chunk)
                remaining -= len(chunk)
            if tmpf:
                tmpf.close()
                if remaining == 0:
                    os.replace(tmpf.name, cpath)
                else:
                    os.unlink(tmpf.name)
                    self.close_connection = True
        finally:
            conn.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(bind: str, port: int, allowed: list[str], cache_dir: str | None) -> None:
    Handler.allowed = {h.lower() for h in allowed}
    Handler.cache_dir = Path(cache_dir) if cache_dir else None
    srv = Server((bind, port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    sys.stderr.write(f"aptproxy listening on {bind}:{port}, forwarding to {sorted(Handler.allowed)}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--allow", action="append", required=True)
    ap.add_argument("--cache-dir")
    a = ap.parse_args(argv)
    serve(a.bind, a.port, a.allow, a.cache_dir)


if __name__ == "__main__":
    main()
