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
import time
from concurrent.futures import ThreadPoolExecutor

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


# ---------------------------------------------------------------- cAdvisor
#
# The lab's cAdvisor is the busybox stand-in, but it runs with the production
# compose file's mounts, masks and networks (only command and health check are
# overridden; tests/unit/test_salt_exporters.py), so its container sees what the
# real cAdvisor's would. One ssh per host runs every probe.

# What cAdvisor v0.52.1's docker factory calls (container/docker: Info,
# ServerVersion, ContainerInspect; the client's ping), with the daemon's API version.
CADVISOR_READS = ["/_ping", "/v$API/version", "/v$API/info", "/v$API/containers/$PROXY/json"]
CADVISOR_REFUSED = [
    ("POST", "/v$API/containers/create"),
    ("POST", "/v$API/containers/$PROXY/exec"),
    ("GET", "/v$API/containers/$PROXY/archive?path=/etc"),
    ("GET", "/v$API/containers/json"),
    ("GET", "/v$API/images/json"),
    ("GET", "/v$API/events?until=1"),
]
# The daemons' sockets as the container would find them: its own /run and
# /var/run, the host's root at /rootfs, and through the host's /proc the roots
# of dockerd and of both socket proxies (a process's /proc/<pid>/root is open
# to a caller that passes the kernel's ptrace read check).
IN_CONTAINER = [
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/rootfs/run/docker.sock",
    "/rootfs/var/run/docker.sock",
    "/rootfs/run/containerd/containerd.sock",
    "/rootfs/proc/$DOCKERD/root/run/docker.sock",
    "/rootfs/proc/$PROXYPID/root/var/run/docker.sock",
    "/rootfs/proc/$TRAEFIKPROXYPID/root/var/run/docker.sock",
]
CONNECT = (
    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1]); print('connected')"
)


def _inside_cadvisor() -> str:
    """Run in cAdvisor's container (busybox sh, its capabilities): socket files, then its proxy's answers."""
    lines = [
        "for p in " + " ".join(IN_CONTAINER) + '; do [ -e "$p" ] && echo "present|cadvisor $p"; done',
        'echo "sockets|$(find /run /var/run /rootfs/run -type s 2>/dev/null | tr "\\n" " ")"',
        'echo "rootfs|$(cat /rootfs/etc/hostname)"',
        'req() { got=$(wget -S -O /dev/null $3 "http://docker-socket-proxy:2375$2" 2>&1 '
        '| grep -m1 -o "HTTP/1.[01] [0-9]*" | cut -d" " -f2); echo "http|$1 $2|${got:-none}"; }',
    ]
    lines += [f'req GET "{path}"' for path in CADVISOR_READS]
    lines += [f'req {m} "{path}"' + (" --post-data={}" if m == "POST" else "") for m, path in CADVISOR_REFUSED]
    inner = "\n".join(lines)
    assert "'" not in inner
    return inner


def _cadvisor_probe_script() -> str:
    return "\n".join(
        [
            "set -u",
            "q() { docker ps -q -f label=com.docker.compose.project=$1 -f label=com.docker.compose.service=$2; }",
            "ca=$(q exporters cadvisor); ne=$(q exporters node-exporter); proxy=$(q exporters docker-socket-proxy)",
            "tp=$(q traefik docker-socket-proxy)",
            'pid() { if [ -n "$1" ]; then docker inspect -f \'{{.State.Pid}}\' "$1"; else echo 0; fi; }',
            "api=$(docker version --format '{{.Server.APIVersion}}')",
            'echo "ids|$ca|$ne|$proxy|$api"',
            # Control: on the host the socket answers connect() (the probe below can connect).
            f'echo "host|$(python3 -c {shlex.quote(CONNECT)} /run/docker.sock 2>&1 | tail -1)"',
            'docker exec -e DOCKERD="$(pidof dockerd)" -e PROXYPID="$(pid "$proxy")" -e TRAEFIKPROXYPID="$(pid "$tp")" '
            f'-e API="$api" -e PROXY="$proxy" "$ca" sh -c {shlex.quote(_inside_cadvisor())}',
            'echo "node-exporter|$(docker exec "$ne" ls /host/run 2>&1 | tr "\\n" " ")"',
            # The host's network namespace (node_exporter's) must not reach either proxy at its
            # address on the internal network (inhibit_ipv4: the host has no address on that bridge).
            "for pr in $proxy $tp; do "
            "pip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \"$pr\"); "
            '( echo "hostnet|$(docker inspect -f "{{.Name}}" "$pr")|$pip|$(docker exec "$ne" wget -q -O- -T 2 '
            '"http://$pip:2375/_ping" 2>&1 | tail -1)" ) & done; wait',
            # connect() in cAdvisor's mount namespace, on its view of the host's root (python3 of the host's root).
            'capid=$(pid "$ca")',
            "for p in /run/docker.sock /var/run/docker.sock /run/containerd/containerd.sock; do "
            f'echo "connect|$p|$(nsenter -t "$capid" -m chroot /rootfs python3 -c {shlex.quote(CONNECT)} "$p" 2>&1 '
            '| tail -1)"; done',
            # Control of the capability fence: a container like the proxy (root) without it is
            # open to cAdvisor through the host's /proc, the same with it is not.
            'img=$(docker inspect -f "{{.Config.Image}}" "$proxy")',
            "for caps in none WAKE_ALARM; do "
            'add=$([ "$caps" = none ] || echo "--cap-add=$caps"); '
            'c=$(docker run -d --rm --network=none --cap-drop=ALL $add --entrypoint sleep "$img" 60); '
            'if docker exec "$ca" test -e "/rootfs/proc/$(pid "$c")/root/etc/hostname"; then r=open; else r=closed; fi; '
            'docker rm -f "$c" >/dev/null; echo "fence|$caps|$r"; done',
        ]
    )


@pytest.mark.summary("cadvisor socket")
def test_cadvisor_cannot_reach_the_docker_socket_and_reads_through_its_proxy(converged, lab):
    problems, counts = [], []
    script = _cadvisor_probe_script()
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(labenv.HOSTS)) as pool:  # independent hosts, one ssh each
        runs = dict(zip(labenv.HOSTS, pool.map(lambda h: lab.run(h, script, timeout=120), labenv.HOSTS), strict=True))
    took = time.monotonic() - start
    for host, r in runs.items():
        rows = [line.split("|") for line in r.stdout.splitlines() if "|" in line]
        got = {}
        for row in rows:
            got.setdefault(row[0], []).append(row[1:])
        if "ids" not in got or not all(got["ids"][0]):
            problems.append(
                f"{host}: cAdvisor, node_exporter or the proxy not found: {r.stdout[-300:]} {r.stderr[-300:]}"
            )
            continue
        if got.get("host") != [["connected"]]:
            problems.append(f"{host}: control failed, the host's own connect() to /run/docker.sock: {got.get('host')}")
        if not got.get("rootfs", [[""]])[0][0].strip():
            problems.append(f"{host}: control failed, the host's root is not readable at /rootfs in cAdvisor")
        problems += [f"{host}: {p[0]} exists inside the container" for p in got.get("present", [])]
        if got.get("sockets", [[""]])[0][0].strip():
            problems.append(f"{host}: unix sockets under cAdvisor's /run, /var/run, /rootfs/run: {got['sockets']}")
        if got.get("node-exporter", [[""]])[0][0].strip():
            problems.append(f"{host}: node_exporter's /host/run is not empty: {got['node-exporter']}")
        if got.get("fence") != [["none", "open"], ["WAKE_ALARM", "closed"]]:
            problems.append(f"{host}: capability fence control (without: open, with: closed): {got.get('fence')}")
        hostnet = got.get("hostnet", [])
        if len(hostnet) != (2 if host in HOSTS else 1):
            problems.append(f"{host}: host network probes of the proxies missing: {hostnet}")
        for name, address, answer in hostnet:
            if not address or answer.strip() == "OK":
                problems.append(f"{host}: the host's network reaches {name} at {address or '(no address)'}: {answer}")
        for path, answer in got.get("connect", []):
            if answer == "connected" or "Error" not in answer:
                problems.append(f"{host}: connect({path}) in cAdvisor's view of the host's root: {answer}")
        if len(got.get("connect", [])) != 3:
            problems.append(f"{host}: connect() probes missing: {got.get('connect')}")
        http = got.get("http", [])
        ok = [c for c, s in http if s == "200"]
        refused = [c for c, s in http if s == "403"]
        expect_ok = len(CADVISOR_READS)
        problems += [f"{host}: {c} answered {s}" for c, s in http[:expect_ok] if s != "200"]
        problems += [f"{host}: {c} answered {s}, expected 403" for c, s in http[expect_ok:] if s != "403"]
        if len(http) != expect_ok + len(CADVISOR_REFUSED):
            problems.append(f"{host}: {len(http)} proxy answers, expected {expect_ok + len(CADVISOR_REFUSED)}")
        errors = sorted({a.split(":")[0] for _, a in got.get("connect", [])})
        counts.append(
            f"{host}: no socket (connect: {', '.join(errors)}), {len(ok)} reads 200, {len(refused)} refused 403, "
            f"{len(hostnet)} proxies not reached from the host's network"
        )
    counts.append(f"fence control open/closed; {took:.1f} s")
    SUMMARY.conclude("cadvisor socket", problems, "; ".join(counts))
