"""A real browser looks at the lab: headless Chromium (Debian's `chromium`).

:func:`look` opens a URL through the lab's Traefik, trusting ONLY the CA it is
given (a fresh NSS database in a throw-away HOME: Chromium on Linux takes
locally trusted roots from ``~/.pki/nssdb``), and returns the page's text (DOM
dump) and a PNG screenshot.

Name resolution is pinned with ``--host-resolver-rules``: the lab names map to
the lab hosts' addresses and every other name fails to resolve
(``MAP * ~NOTFOUND``), so the browser can reach nothing but the lab. Background
services (component updates, sync, metrics, safe browsing) are switched off.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless=new",
    # root in a CI container: Chromium's setuid/user-namespace sandbox is not available.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
    "--metrics-recording-only",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
]


class BrowserError(RuntimeError):
    pass


@dataclass
class Page:
    url: str
    text: str  # the DOM (HTML) after the page ran
    screenshot: Path | None

    @property
    def visible(self) -> str:
        """The DOM's text without tags, whitespace folded."""
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", self.text)).split())


def chromium() -> str:
    # Debian's chromium; on Ubuntu (GitHub's runner image) Google Chrome: Ubuntu
    # ships Chromium only as a snap (scripts/deps-system STAND_INS).
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        found = shutil.which(name)
        if found and not os.path.realpath(found).startswith("/snap/"):
            return found
    raise BrowserError("no chromium or google-chrome (Debian package chromium; scripts/deps-system --tier e2e)")


def _nss_home(home: Path, ca_file: Path) -> None:
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    for cmd in (
        ["certutil", "-d", f"sql:{db}", "-N", "--empty-password"],
        ["certutil", "-d", f"sql:{db}", "-A", "-n", "lostops-lab-ca", "-t", "C,,", "-i", str(ca_file)],
    ):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise BrowserError(f"{' '.join(cmd[:2])}: {r.stderr.strip() or r.stdout.strip()}")


def resolver_rules(resolve: dict[str, str]) -> str:
    rules = [f"MAP {name} {ip}" for name, ip in sorted(resolve.items())]
    return ", ".join(rules + ["MAP * ~NOTFOUND"])


def look(
    url: str,
    *,
    ca_file: Path | None,
    resolve: dict[str, str],
    screenshot: Path | None = None,
    size: tuple[int, int] = (1280, 900),
    timeout: float = 90,
) -> Page:
    """Open `url` in headless Chromium; the DOM text, and a PNG when `screenshot` is given.

    `ca_file` None trusts no extra CA (to prove that the page is refused without it).
    """
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="lostops-chromium-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        if ca_file is not None:
            _nss_home(home, ca_file)
        base = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--host-resolver-rules={resolver_rules(resolve)}",
            f"--window-size={size[0]},{size[1]}",
        ]
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        dom = subprocess.run(
            [*base, "--dump-dom", url], capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        shot = None
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            r = subprocess.run(
                [*base, f"--screenshot={screenshot}", url],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                check=False,
            )
            if r.returncode != 0 or not screenshot.exists():
                raise BrowserError(f"chromium --screenshot {url}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
            shot = screenshot
    return Page(url=url, text=dom.stdout, screenshot=shot)
