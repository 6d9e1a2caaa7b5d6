"""17. The read-only Docker socket proxy in front of Traefik (salt/lib/docker-socket-proxy.cfg.jinja).

On the lab's backend and monitoring hosts, Debian's HAProxy runs the production
rules file (tests/lab/images.py). Checked:

- Traefik has no Docker socket, the proxy has it;
- Traefik still routes by labels through the proxy: its docker provider built
  the app's and Prometheus' routers (Traefik's own API on the ping/metrics
  entrypoint is not enabled, so the proof is the routed request itself: the app
  answers through Traefik, tests/e2e/test_02_traefik.py, and here a request
  through the proxy with the provider's own calls);
- from inside the Traefik container (the one that faces the internet), the
  reads the provider makes answer 200, and every write or other read is 403:
  `POST /containers/create`, `POST /containers/<id>/exec`, `DELETE`,
  `GET /containers/<id>/archive` (files of a container), `/info`, `/images/json`.
"""

from __future__ import annotations

import json
import shlex

import pytest

from tests.e2e import labenv
from tests.e2e.summary import SUMMARY

HOSTS = [h for h in labenv.HOSTS if h in ("backend", "monitoring")]
PROXY = "http://docker-socket-proxy:2375"


def _container(lab, host: str, service: str) -> str:
    r = lab.run(
        host,
        f"docker ps -q --filter label=com.docker.compose.project=traefik --filter label=com.docker.compose.service={service}",
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout.strip(), f"{host}: no {service} container: {r.stderr}"
    return r.stdout.split()[0]


def _status(lab, host: str, traefik: str, method: str, path: str) -> str:
    """The HTTP status line the proxy answers to Traefik's container (busybox wget prints it on errors)."""
    post = "--post-data='{}' --header='Content-Type: application/json'" if method == "POST" else ""
    cmd = (
        f"docker exec {traefik} wget -S -O /dev/null {post} {shlex.quote(PROXY + path)} 2>&1 | "
        "grep -m1 -o 'HTTP/1.[01] [0-9]*' || true"
    )
    r = lab.run(host, cmd, timeout=60)
    return r.stdout.strip().split(" ")[-1] if r.stdout.strip() else f"no answer ({r.stderr.strip()[:80]})"


@pytest.mark.summary("socket proxy")
def test_traefik_reads_docker_through_the_proxy_and_writes_are_refused(converged, lab):
    problems, counts = [], []
    for host in HOSTS:
        traefik = _container(lab, host, "traefik")
        proxy = _container(lab, host, "docker-socket-proxy")
        inspect = json.loads(lab.run(host, f"docker inspect {traefik} {proxy}", timeout=60).stdout)
        mounts = {c["Id"][:12]: [m.get("Source", "") for m in c.get("Mounts", [])] for c in inspect}
        if any("docker.sock" in m for m in mounts[traefik[:12]]):
            problems.append(f"{host}: Traefik mounts the Docker socket")
        if not any("docker.sock" in m for m in mounts[proxy[:12]]):
            problems.append(f"{host}: the proxy does not mount the Docker socket")
        # What Traefik's docker provider reads (API 1.24 prefix as Traefik 3.5 sends it).
        reads = ["/_ping", "/v1.24/version", "/v1.24/containers/json?all=1", f"/v1.24/containers/{proxy}/json"]
        refused = [
            ("POST", "/v1.24/containers/create"),
            ("POST", f"/v1.24/containers/{proxy}/exec"),
            ("POST", f"/v1.24/containers/{proxy}/stop"),
            ("GET", f"/v1.24/containers/{proxy}/archive?path=/etc"),
            ("GET", f"/v1.24/containers/{proxy}/logs?stdout=1"),
            ("GET", "/v1.24/info"),
            ("GET", "/v1.24/images/json"),
            ("GET", "/v1.24/containers/json/../../info"),
        ]
        for path in reads:
            got = _status(lab, host, traefik, "GET", path)
            if got != "200":
                problems.append(f"{host}: GET {path} answered {got}, expected 200")
        for method, path in refused:
            got = _status(lab, host, traefik, method, path)
            if got != "403":
                problems.append(f"{host}: {method} {path} answered {got}, expected 403")
        # Routing by labels through the proxy: the provider's view has the routed containers.
        listed = lab.run(
            host,
            f"docker exec {traefik} wget -q -O - {shlex.quote(PROXY + '/v1.24/containers/json')}",
            timeout=60,
        )
        labels = [c.get("Labels", {}) for c in json.loads(listed.stdout or "[]")]
        routed = sorted(
            k.split(".")[3]
            for lb in labels
            for k in lb
            if k.startswith("traefik.http.routers.") and k.endswith(".rule")
        )
        if not routed:
            problems.append(f"{host}: no container with a traefik router label through the proxy")
        counts.append(f"{host}: {len(reads)} reads 200, {len(refused)} refused 403, routers {routed}")
    SUMMARY.conclude("socket proxy", problems, "; ".join(counts))
