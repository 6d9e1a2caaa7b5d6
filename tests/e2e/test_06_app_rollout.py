"""8. App roll-out with roll-back (salt/app, docs/app-rollout.md) on the backend.

The app runs the lab app image (tests/lab/images/app.py, pillar/overrides/lab/app.sls):
PHP with the real app's contract (port 80, `/` is 200 only when its query on
`counters` over TLS to the real database server succeeds, migrations create
`counters`), not Laravel. This proves the roll-out mechanics (new container
next to the old one, migrations, health gate, old one removed; an unhealthy
version is removed and the old one keeps serving). "Serving" = the container answers HTTP on its
Traefik service port (label traefik.http.services.<router>.loadbalancer.server.port)
at its address on the proxy network, asked from the backend host.

The release job runs `salt-ssh '*' state.apply pillar='{"app": {"version": ...}}'`;
here only the backend is targeted (the other hosts do not use app:version).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.e2e import labenv, probes, saltrun, tls
from tests.e2e.summary import SUMMARY

FAILING_VERSION = "9.9.9"


def app_containers(lab) -> list[dict]:
    r = lab.run(
        "backend",
        "ids=$(docker ps -aq --filter label=lostops.app.managed=true); [ -z \"$ids\" ] && echo '[]' || docker inspect $ids",
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = []
    for c in json.loads(r.stdout or "[]"):
        labels = c["Config"].get("Labels") or {}
        port = next((v for k, v in labels.items() if k.endswith(".loadbalancer.server.port")), None)
        nets = c["NetworkSettings"].get("Networks") or {}
        out.append(
            {
                "id": c["Id"],
                "name": c["Name"].lstrip("/"),
                "version": labels.get("lostops.app.version"),
                "status": c["State"]["Status"],
                "health": (c["State"].get("Health") or {}).get("Status"),
                "started": c["State"].get("StartedAt"),
                "ip": next((n.get("IPAddress") for n in nets.values() if n.get("IPAddress")), None),
                "port": port,
            }
        )
    return out


def answers(lab, c: dict) -> bool:
    if not (c.get("ip") and c.get("port")):
        return False
    # The lab app (tests/lab/images/app.py) answers `/` with 200 only when its query
    # on `counters` over TLS succeeded (the real app's contract).
    r = lab.run("backend", f"curl -fsS --max-time 3 http://{c['ip']}:{c['port']}/", timeout=30)
    return r.returncode == 0 and r.stdout.startswith("lostops lab app") and "counter sum:" in r.stdout


def wait_healthy(lab, name: str, timeout: float = 30) -> dict | None:
    def get():
        for c in app_containers(lab):
            if c["name"] == name and c["health"] == "healthy":
                return c
        return None

    return probes.wait_for(get, timeout, 1)


class TraefikPoll:
    """GET https://app.<lab zone>/ THROUGH the real Traefik every 100 ms from the
    lab's internet address (certificate verified against Pebble's root), in a
    thread; every exception, non-200 or body without the app's DB answer is a
    failure. ``with TraefikPoll() as tp: ...`` then tp.total, tp.fail, tp.rate."""

    INTERVAL = 0.1

    def __init__(self, ready_timeout: float = 120):
        self._name = tls.name_of("app.")
        self._ctx = tls.verified_ctx(tls.pebble_roots())
        self._ip = labenv.host_ip("backend")
        self.ok = self.fail = 0
        self.errors: list[str] = []
        # Alone (-k), the test may run before Traefik has its ACME certificate.
        if not probes.wait_for(lambda: self.one()[0], ready_timeout, 2):
            raise AssertionError(f"the app is not served through Traefik before the roll-out: {self.one()[1]}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def one(self) -> tuple[bool, str]:
        try:
            status, _, body = tls.https_get(self._ip, self._name, "/", self._ctx)
            return status == 200 and b"counter sum:" in body, f"{status} {body[:60]!r}"
        except Exception as exc:  # every failure counts
            return False, repr(exc)[:120]

    def _run(self):
        while not self._stop.is_set():
            good, detail = self.one()
            if good:
                self.ok += 1
            else:
                self.fail += 1
                if len(self.errors) < 5:
                    self.errors.append(detail)
            self._stop.wait(self.INTERVAL)

    def __enter__(self):
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.wait(2)  # keep polling 2 s after the roll-out ended
        self._stop.set()
        self._thread.join(10)
        self.seconds = time.monotonic() - self._t0
        return False

    @property
    def total(self) -> int:
        return self.ok + self.fail

    def text(self) -> str:
        return (
            f"{self.total} requests through Traefik every 100 ms ({self.total / self.seconds:.1f}/s over "
            f"{self.seconds:.0f} s), {self.fail} failed"
        )


def traefik_labels(lab, name: str) -> dict[str, str]:
    r = lab.run("backend", f"docker inspect -f '{{{{json .Config.Labels}}}}' {name}", timeout=30)
    assert r.returncode == 0, r.stderr
    return {k: v for k, v in json.loads(r.stdout).items() if k.startswith("traefik.")}


@pytest.fixture(scope="module")
def served_through_traefik(converged):
    """The app answers through Traefik before a test polls it there.

    Alone (-k), a test may run before Traefik has its ACME certificate; in file
    order the earlier tests waited for it already and this is one request."""
    TraefikPoll()  # its constructor waits until the app is served (fails after its ready_timeout)


@pytest.mark.summary("app roll-out")
def test_rollout_healthy_version(lab, converged, salt_env):
    before = [c for c in app_containers(lab) if c["status"] == "running"]
    assert len(before) == 1, f"expected one running app container before the roll-out, got {before}"
    old = before[0]
    new = "1.0.1" if old["version"] != "1.0.1" else "1.0.2"
    run = saltrun.salt_ssh("backend", "state.apply", env=salt_env, pillar={"app": {"version": new}}, timeout=600)
    problems = []
    if run.rc != 0 or not run.ok("backend"):
        problems.append("apply failed:\n" + run.report(["backend"]))
    deploy = run.state("backend", "app-rollout-deploy-cmd-run") or {}
    if not deploy.get("changes"):
        problems.append(f"app-rollout-deploy-cmd-run did not run: {deploy.get('comment')}")
    after = app_containers(lab)
    names = sorted(c["name"] for c in after)
    want = f"lostops-app-{new}"
    if names != [want]:
        problems.append(f"app containers after the roll-out: {names}, want only [{want}]")
    cur = wait_healthy(lab, want, 10)
    if not cur:
        problems.append(f"{want} is not healthy: {after}")
    elif not answers(lab, cur):
        problems.append(f"{want} does not answer HTTP on {cur['ip']}:{cur['port']}")
    SUMMARY.conclude(
        "app roll-out",
        problems,
        f"{old['version']} -> {new}: new container healthy and answering, old one removed ({run.seconds:.0f} s)",
    )


@pytest.mark.summary("app roll-back")
def test_rollback_on_unhealthy_version(lab, converged, salt_env):
    running = [c for c in app_containers(lab) if c["status"] == "running" and c["health"] == "healthy"]
    assert len(running) == 1, f"expected one healthy app container before the failing roll-out, got {running}"
    cur = running[0]
    assert answers(lab, cur), f"{cur['name']} does not answer before the failing roll-out"

    # keep asking the current version while the bad one is being rolled out
    stop, seen = threading.Event(), {"ok": 0, "fail": 0}

    def poll():
        while not stop.is_set():
            seen["ok" if answers(lab, cur) else "fail"] += 1
            stop.wait(1.0)

    poller = threading.Thread(target=poll, daemon=True)
    tp = TraefikPoll()
    poller.start()
    bad_pillar = {
        "app": {
            "version": FAILING_VERSION,
            # a version that never listens: its health check fails (salt/app/pillar.example)
            "versions": {FAILING_VERSION: {"command": ["sleep", "3600"]}},
        }
    }
    try:
        with tp:
            run = saltrun.salt_ssh("backend", "state.apply", env=salt_env, pillar=bad_pillar, timeout=600)
    finally:
        stop.set()
        poller.join(10)
    problems = []
    if tp.fail or not tp.ok:
        problems.append(f"through Traefik: {tp.text()}, e.g. {tp.errors}")
    if run.rc == 0:
        problems.append("salt-ssh exited 0 for an unhealthy version")
    deploy = run.state("backend", "app-rollout-deploy-cmd-run")
    if deploy is None or deploy.get("result") is not False:
        problems.append(f"app-rollout-deploy-cmd-run did not fail: {deploy and deploy.get('comment')}")
    others = [f for f in run.failures("backend") if not f.startswith("app-rollout-deploy-cmd-run")]
    if others:
        problems.append(f"other states failed too: {others}")
    after = app_containers(lab)
    if any(c["name"] == f"lostops-app-{FAILING_VERSION}" for c in after) or any(
        c["version"] == FAILING_VERSION for c in after
    ):
        problems.append(f"the failing container is still there: {after}")
    still = [c for c in after if c["id"] == cur["id"]]
    if not still or still[0]["status"] != "running" or still[0]["started"] != cur["started"]:
        problems.append(f"{cur['name']} was stopped or restarted: {still}")
    elif not answers(lab, still[0]):
        problems.append(f"{cur['name']} does not answer after the failed roll-out")
    if seen["fail"]:
        problems.append(
            f"{cur['name']} did not answer {seen['fail']} of {seen['ok'] + seen['fail']} times during the roll-out"
        )
    if len(after) != 1:
        problems.append(f"app containers after the roll-back: {[c['name'] for c in after]}")
    if problems:  # the run's report goes into the assertion, not into the summary line
        problems[-1] += "\n" + run.report(["backend"])
    SUMMARY.conclude(
        "app roll-back",
        problems,
        f"{FAILING_VERSION} unhealthy -> salt-ssh exit {run.rc}, {cur['version']} kept running and answered "
        f"{seen['ok']}/{seen['ok']} polls at the container and {tp.ok}/{tp.total} through Traefik every 100 ms "
        f"({tp.total / tp.seconds:.1f}/s), failing container removed ({run.seconds:.0f} s)",
    )


@pytest.mark.summary("app roll-out, other traefik labels")
def test_rollout_with_other_traefik_labels_loses_no_request(lab, converged, salt_env):
    """A roll-out to a version whose Traefik labels differ from the old one's in
    every value a version can change (router/service name prefix app:router,
    service port app:port: the new container listens on another port) while
    the app is polled THROUGH the real Traefik every 100 ms: 0 failed requests.
    (The next test rolls back to the default labels, again polled.)"""
    running = [c for c in app_containers(lab) if c["status"] == "running" and c["health"] == "healthy"]
    assert len(running) == 1, f"expected one healthy app container, got {running}"
    old = running[0]
    new = "1.1.0" if old["version"] != "1.1.0" else "1.1.1"
    port = 8081
    pillar = {
        "app": {
            "version": new,
            "router": "web",
            "port": port,
            # the lab app listens on APP_LISTEN_PORT (tests/lab/images/app.py, lab-app-serve)
            "versions": {new: {"command": ["env", f"APP_LISTEN_PORT={port}", "lab-app-serve"]}},
        }
    }
    old_labels = traefik_labels(lab, old["name"])
    with TraefikPoll() as tp:
        run = saltrun.salt_ssh("backend", "state.apply", env=salt_env, pillar=pillar, timeout=600)
    problems = []
    if run.rc != 0 or not run.ok("backend"):
        problems.append("apply failed:\n" + run.report(["backend"]))
    after = app_containers(lab)
    if [c["name"] for c in after] != [f"lostops-app-{new}"]:
        problems.append(f"app containers after the roll-out: {[c['name'] for c in after]}")
        new_labels = {}
    else:
        new_labels = traefik_labels(lab, after[0]["name"])
    ports = sorted({v for k, v in {**old_labels, **new_labels}.items() if k.endswith(".loadbalancer.server.port")})
    routers = sorted({k.split(".")[3] for k in {**old_labels, **new_labels} if k.startswith("traefik.http.routers.")})
    if new_labels and (len(ports) != 2 or len(routers) != 2):
        problems.append(f"the labels do not differ as intended: ports {ports}, routers {routers}")
    if not tp.ok:
        problems.append("no request answered through Traefik")
    if tp.fail:
        problems.append(f"{tp.fail}/{tp.total} requests through Traefik failed, e.g. {tp.errors}")
    summary = (
        f"{old['version']} -> {new} (routers {' -> '.join(routers)}, service port {' -> '.join(ports)}): {tp.text()}"
    )
    SUMMARY.conclude("app roll-out, other traefik labels", problems, summary)


@pytest.mark.summary("app roll-out through traefik")
def test_rollout_through_traefik_loses_no_request(lab, converged, salt_env, served_through_traefik):
    """A healthy roll-out while the app is polled THROUGH the real Traefik every 100 ms
    (HTTPS from the lab's internet address, certificate verified against Pebble's
    root): 0 failed requests. Old and new containers carry different router names
    (per version), so Traefik serves both until the old one is removed."""
    running = [c for c in app_containers(lab) if c["status"] == "running" and c["health"] == "healthy"]
    assert len(running) == 1, f"expected one healthy app container, got {running}"
    old = running[0]
    new = "1.0.2" if old["version"] != "1.0.2" else "1.0.3"
    with TraefikPoll() as tp:
        run = saltrun.salt_ssh("backend", "state.apply", env=salt_env, pillar={"app": {"version": new}}, timeout=600)
    problems = []
    if run.rc != 0 or not run.ok("backend"):
        problems.append("apply failed:\n" + run.report(["backend"]))
    if [c["name"] for c in app_containers(lab)] != [f"lostops-app-{new}"]:
        problems.append(f"app containers after the roll-out: {[c['name'] for c in app_containers(lab)]}")
    if not tp.ok:
        problems.append("no request answered through Traefik")
    if tp.fail:
        problems.append(f"{tp.fail}/{tp.total} requests through Traefik failed, e.g. {tp.errors}")
    SUMMARY.conclude("app roll-out through traefik", problems, f"{old['version']} -> {new}: {tp.text()}")
