"""13. A real browser looks at the platform: headless Chromium through Traefik.

The app and the Prometheus UI are opened by name through the real Traefik
(names pinned to the lab hosts with --host-resolver-rules, nothing else
resolves), trusting ONLY Pebble's issuing root (the lab's ACME CA, written to
.lab/ca.pem by tests/e2e/labup.py). Without that CA the same page is
refused. The screenshots are kept as test output in .test-results/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e import browser, labenv, labsecrets, labup, tls
from tests.e2e.summary import SUMMARY

SHOTS = labenv.REPO / ".test-results" / "screenshots"


@pytest.fixture(scope="module")
def site(converged):
    names = tls.lab_names()
    roots, _ = labup.wait_for_certificates(names)
    labup.CA_FILE.write_text(roots)
    return names


def _name(names: dict[str, str], prefix: str) -> str:
    return next(n for n in names if n.startswith(prefix + "."))


@pytest.mark.summary("browser")
def test_app_and_prometheus_in_chromium_trusting_only_the_lab_ca(site, secret_values):
    # secret_values: the fixture that writes the lab secrets and its Prometheus login (labsecrets.credentials())
    app, prom = _name(site, "app"), _name(site, "prometheus")

    page = browser.look(
        f"https://{app}/", ca_file=labup.CA_FILE, resolve=site, screenshot=SHOTS / "app.png", size=(900, 300)
    )
    assert "counter sum:" in page.text, f"the app page through Traefik: {page.text[:300]!r}"
    assert "db tls:" in page.text

    refused = browser.look(f"https://{app}/", ca_file=None, resolve=site)
    assert "counter sum:" not in refused.text, "Chromium accepted the certificate without the lab CA"

    password = labsecrets.credentials()["prometheus_password"]
    # Debian's Prometheus 2.53 ships only the classic UI (/classic/...), not the React one.
    targets = f"https://{prom}/classic/targets"
    anonymous = browser.look(targets, ca_file=labup.CA_FILE, resolve=site)
    assert "node_exporter" not in anonymous.text and "UP" not in anonymous.text, "Prometheus answered without login"
    ui = browser.look(
        f"https://prometheus:{password}@{prom}/classic/targets",
        ca_file=labup.CA_FILE,
        resolve=site,
        screenshot=SHOTS / "prometheus-targets.png",
    )
    for job in ("node", "mysql", "traefik"):
        assert re.search(rf"\b{job} \(\d+/\d+ up\)", ui.visible), (
            f"job {job} not on the targets page: {ui.visible[:600]!r}"
        )
    SUMMARY.ok(
        "browser",
        f"Chromium opened https://{app}/ and {targets} through Traefik trusting only the lab CA "
        f"(refused without it); screenshots in {SHOTS.relative_to(labenv.REPO)}/",
    )
