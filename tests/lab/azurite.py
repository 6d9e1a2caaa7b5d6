"""Azurite (npm `azurite`, Microsoft's Azure Storage emulator) as the lab's backup storage account.

Installed from its own locked npm project (tools/azurite: `npm ci --prefix
tools/azurite`, make target tools/azurite/node_modules/.synced). Only the
Blob service runs (`azurite-blob`), with Azurite's well-known development
account ``devstoreaccount1`` and its key, which Microsoft publishes in the
Azurite documentation (a test-only credential, never a real account's).

What production's Terraform creates (the container), the lab creates here
with an account SAS signed by that key. The SAS tokens of the database host
(create only) and of the operator (read + list) come from the project's own
``lostops.backup.container_sas``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import subprocess
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

REPO = Path(__file__).resolve().parents[2]
PREFIX = REPO / "tools" / "azurite"
BINARY = PREFIX / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's documented development key ("Authorization for tools and SDKs" in its README).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS_VERSION = "2021-08-06"


def argv(bind: str, port: int, location: Path) -> list[str]:
    if not BINARY.exists():
        raise FileNotFoundError(f"{BINARY} is missing: run `npm ci --prefix tools/azurite` (make deps)")
    return [
        str(BINARY),
        "--blobHost", bind,
        "--blobPort", str(port),
        "--location", str(location),
        "--skipApiVersionCheck",
        "--disableProductStyleUrl",
    ]  # fmt: skip


def bind_of(endpoint: str) -> tuple[str, int]:
    """(address, port) of an Azurite endpoint URL like http://10.77.0.1:10000/devstoreaccount1."""
    u = urlsplit(endpoint)
    return u.hostname or "127.0.0.1", u.port or 10000


def account_sas(hours: float = 1, permissions: str = "rwdlac") -> str:
    """An account SAS of the development account (Blob service, container and object level)."""
    se = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sts = "\n".join([ACCOUNT, permissions, "b", "sc", "", se, "", "", SAS_VERSION, "", ""])
    sig = base64.b64encode(hmac.new(base64.b64decode(ACCOUNT_KEY), sts.encode(), hashlib.sha256).digest()).decode()
    q = {"sv": SAS_VERSION, "ss": "b", "srt": "sc", "sp": permissions, "se": se, "sig": sig}
    return urlencode(q, quote_via=quote, safe=":")


def create_container(endpoint: str, container: str) -> int:
    """PUT the container (201, or 409 when it exists); returns the HTTP status."""
    r = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--config", "-", "-X", "PUT",
         "-H", "Content-Length: 0", "-H", f"x-ms-version: {SAS_VERSION}"],
        input=f'url = "{endpoint.rstrip("/")}/{container}?restype=container&{account_sas()}"\n',
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return int(r.stdout or 0)


def sas(container: str, permissions: str, hours: float = 2) -> str:
    """A container SAS of the development account, from the project's own signer (http allowed: the lab)."""
    from lostops.backup import container_sas

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return container_sas(
        ACCOUNT,
        ACCOUNT_KEY,
        container,
        permissions,
        now + dt.timedelta(hours=hours),
        start=now - dt.timedelta(minutes=5),
        https_only=False,
    )
