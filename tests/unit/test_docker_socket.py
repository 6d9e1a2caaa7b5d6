"""No container but a read-only socket proxy reaches the Docker socket, in any rendered compose project.

Every compose file of every host of both inventories (Salt's own render, the
lab's override merged as compose merges it) is read, service by service:

- a bind mount whose host path is the Docker socket, or a directory holding it
  or containerd's socket (`/`, `/run`, `/var/run`: bind mounts are recursive,
  and `:ro` does not stop connect()), must have the socket's path inside the
  container hidden by a tmpfs mount ("masked"); the only exception is the
  socket proxy's own mount of the Docker socket;
- each proxy publishes no port and sits on internal networks only, without an
  address of the host on their bridge, shared with exactly the one client it
  serves (Traefik's docker provider, cAdvisor);
- no container that sees the host's /proc (cAdvisor's /rootfs/proc,
  node_exporter's pid: host) can open a proxy's /proc/<pid>/root: the kernel
  allows that to a process of the same uid only if it holds every capability
  of the target (commoncap's cap_ptrace_access_check), so each proxy holds one
  that none of them has.

The checker itself is tested on the mounts cAdvisor had before (it must flag them).
"""

from __future__ import annotations

import posixpath

import pytest
import yaml

from lostops import inventory as inventory_mod
from tests.unit import composemerge
from tests.unit.saltcall import RENDERS

# The daemons' API sockets on the host: whoever can connect() to one is root there.
SOCKETS = ("/run/docker.sock", "/run/containerd/containerd.sock")
# Compose project -> the one service its socket proxy serves.
CLIENTS = {"traefik": "traefik", "exporters": "cadvisor"}
INVENTORIES = ("example", "lab")
# Docker's default capability set (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS = {
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
    "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}  # fmt: skip


def _proxy_images() -> set[str]:
    """The socket proxy's image name in production and in the lab (each inventory's rendered pillar)."""
    return {
        RENDERS.result(next(iter(inventory_mod.load(i).hosts)), i)["pillar"]["images"]["docker_socket_proxy"]["name"]
        for i in INVENTORIES
    }


def host_path(path: str) -> str:
    """The host path as the kernel resolves it: /var/run is a symlink to /run on every target."""
    path = posixpath.normpath(path)
    if path == "/var/run" or path.startswith("/var/run/"):
        path = "/run" + path[len("/var/run") :]
    return path


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def binds(svc: dict) -> list[tuple[str, str]]:
    """(host source, container target) of every bind mount, short or long syntax."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            if v.get("type") == "bind":
                out.append((v["source"], v["target"]))
        elif v.startswith(("/", ".")):
            parts = v.split(":")
            out.append((parts[0], parts[1] if len(parts) > 1 else parts[0]))
    return out


def masks(svc: dict) -> list[str]:
    """Container paths covered by a tmpfs (compose `tmpfs:` or a tmpfs volume)."""
    tmpfs = svc.get("tmpfs", [])
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    out = [t.split(":")[0] for t in tmpfs]
    out += [v["target"] for v in svc.get("volumes", []) if isinstance(v, dict) and v.get("type") == "tmpfs"]
    return [posixpath.normpath(m) for m in out]


def socket_reach(svc: dict, proxy_images: set[str]) -> list[str]:
    """Where this service's container reaches a daemon socket: '<container path> (host <socket>)'."""
    is_proxy = svc.get("image", "").split(":")[0].split("@")[0] in proxy_images
    hidden = masks(svc)
    found = []
    for source, target in binds(svc):
        src = host_path(source)
        for sock in SOCKETS:
            if not _under(sock, src):
                continue
            if is_proxy and sock == "/run/docker.sock" and src == sock:
                continue  # the proxy's own, deliberate mount
            inside = posixpath.normpath(posixpath.join(target, posixpath.relpath(sock, src)))
            # A tmpfs over the path or a directory above it, below (or at) the bind's target, hides it.
            if not any(_under(inside, m) and _under(m, target) for m in hidden):
                found.append(f"{inside} (host {sock}, via {source}:{target})")
    return found


def capabilities(svc: dict) -> set[str]:
    """The container's capabilities as root: Docker's defaults, minus cap_drop, plus cap_add."""
    norm = lambda caps: {c.upper().removeprefix("CAP_") for c in caps}
    drop, add = norm(svc.get("cap_drop", [])), norm(svc.get("cap_add", []))
    return (set() if "ALL" in drop else DOCKER_DEFAULT_CAPS - drop) | add


def sees_host_proc(svc: dict) -> bool:
    return (
        svc.get("pid") == "host"
        or bool(svc.get("privileged"))
        or any(host_path(s) in ("/", "/proc") for s, _ in binds(svc))
    )


def projects(inventory: str) -> list[tuple[str, str, dict]]:
    """(host, compose project, merged compose document) for every project of every host."""
    out = []
    for host in inventory_mod.load(inventory).hosts:
        files = RENDERS.files(host, inventory)
        for path, body in files.items():
            if path.startswith("/opt/lostops/") and path.endswith("/compose.yaml"):
                override = files.get(path.replace("compose.yaml", "compose.override.yaml"))
                doc = composemerge.merge(yaml.safe_load(body), yaml.safe_load(override) if override else None)
                out.append((host, path.split("/")[3], doc))
    return out


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_no_container_reaches_a_daemon_socket_but_the_proxies(inventory):
    proxy_images = _proxy_images()
    problems, seen, proxies = [], set(), 0
    for host, project, doc in projects(inventory):
        for name, svc in doc["services"].items():
            seen.add(project)
            problems += [f"{inventory}/{host} {project}/{name}: {r}" for r in socket_reach(svc, proxy_images)]
            mounts_socket = any(host_path(s) == "/run/docker.sock" for s, _ in binds(svc))
            proxies += mounts_socket
            if mounts_socket and svc["image"].split(":")[0] not in proxy_images:
                problems.append(f"{inventory}/{host} {project}/{name}: mounts the Docker socket")
    # every host's projects were read: Traefik's and cAdvisor's proxies on backend and monitoring, cAdvisor's on database
    assert seen >= {"traefik", "exporters", "mysql", "monitoring"} and proxies == 5, (seen, proxies)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_each_proxy_is_reachable_by_its_one_client_only(inventory):
    proxy_images = _proxy_images()
    checked = []
    for host, project, doc in projects(inventory):
        services = doc["services"]
        for name, svc in services.items():
            if svc["image"].split(":")[0] not in proxy_images:
                continue
            where = f"{inventory}/{host} {project}/{name}"
            assert "ports" not in svc and "network_mode" not in svc, where
            nets = svc["networks"]
            # internal: no route out; inhibit_ipv4: no address of the host on the bridge, so the
            # host's network namespace (host processes, node_exporter) cannot reach the proxy either
            isolated = {"internal": True, "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"}}
            assert nets and all(doc["networks"][n] == isolated for n in nets), where
            members = {s for s, o in services.items() if set(nets) & set(o.get("networks", []))}
            assert members == {name, CLIENTS[project]}, (where, members)
            checked.append(where)
    # backend and monitoring: Traefik's and cAdvisor's; database: cAdvisor's
    assert len(checked) == 5, checked


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_no_container_with_the_hosts_proc_can_enter_a_proxy(inventory):
    proxy_images = _proxy_images()
    by_host: dict[str, list[tuple[str, dict]]] = {}
    for host, project, doc in projects(inventory):
        by_host.setdefault(host, []).extend((f"{project}/{n}", svc) for n, svc in doc["services"].items())
    pairs = []
    for host, services in by_host.items():
        proxies = [(n, s) for n, s in services if s["image"].split(":")[0] in proxy_images]
        watchers = [(n, s) for n, s in services if sees_host_proc(s)]
        assert proxies and watchers, host
        for pn, proxy in proxies:
            for wn, watcher in watchers:
                fence = capabilities(proxy) - capabilities(watcher)
                assert fence, f"{inventory}/{host}: {wn} holds every capability of {pn} and sees its /proc/<pid>/root"
                pairs.append((host, pn, wn))
    # backend, monitoring: 2 proxies x (cAdvisor, node_exporter); database: 1 x 2
    assert len(pairs) == 10, pairs


def test_capabilities_as_docker_grants_them():
    assert capabilities({}) == DOCKER_DEFAULT_CAPS
    assert capabilities({"cap_drop": ["ALL"], "cap_add": ["WAKE_ALARM"]}) == {"WAKE_ALARM"}
    assert capabilities({"cap_add": ["CAP_SYSLOG"], "cap_drop": ["NET_RAW"]}) == DOCKER_DEFAULT_CAPS - {"NET_RAW"} | {
        "SYSLOG"
    }
    # without the fence, cAdvisor (root, Docker's defaults + SYSLOG) holds all of the proxy's (none)
    assert not capabilities({"cap_drop": ["ALL"]}) - capabilities({"cap_add": ["SYSLOG"]})


@pytest.mark.parametrize(
    "svc,reach",
    [
        # cAdvisor as upstream documents it (and as this project ran it): both mounts reach the socket.
        (
            {"image": "gcr.io/cadvisor/cadvisor:v0.52.1", "volumes": ["/:/rootfs:ro", "/var/run:/var/run:ro"]},
            [
                "/rootfs/run/docker.sock (host /run/docker.sock, via /:/rootfs)",
                "/rootfs/run/containerd/containerd.sock (host /run/containerd/containerd.sock, via /:/rootfs)",
                "/var/run/docker.sock (host /run/docker.sock, via /var/run:/var/run)",
                "/var/run/containerd/containerd.sock (host /run/containerd/containerd.sock, via /var/run:/var/run)",
            ],
        ),
        ({"image": "x", "volumes": ["/:/rootfs:ro"], "tmpfs": ["/rootfs/run:ro,size=4k"]}, []),
        # a mask beside the path is no mask; a narrower one hides only its socket
        (
            {"image": "x", "volumes": ["/:/rootfs:ro"], "tmpfs": ["/rootfs/run/docker.sock", "/rootfs/var/run"]},
            ["/rootfs/run/containerd/containerd.sock (host /run/containerd/containerd.sock, via /:/rootfs)"],
        ),
        (
            {"image": "x", "volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s"}]},
            ["/s (host /run/docker.sock, via /var/run/docker.sock:/s)"],
        ),
        # a tmpfs volume (long syntax) masks too
        (
            {"image": "x", "volumes": ["/run:/r:ro", {"type": "tmpfs", "target": "/r"}]},
            [],
        ),
        # the proxy may mount the Docker socket, not a directory holding it
        (
            {
                "image": "ghcr.io/tecnativa/docker-socket-proxy:v0.4.1",
                "volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"],
            },
            [],
        ),
        (
            {"image": "ghcr.io/tecnativa/docker-socket-proxy:v0.4.1", "volumes": ["/run:/run:ro"]},
            [
                "/run/docker.sock (host /run/docker.sock, via /run:/run)",
                "/run/containerd/containerd.sock (host /run/containerd/containerd.sock, via /run:/run)",
            ],
        ),
        ({"image": "x", "volumes": ["/sys:/sys:ro", "/var/lib/docker/:/var/lib/docker:ro", "data:/data"]}, []),
    ],
)
def test_the_check_flags_every_way_to_the_socket(svc, reach):
    assert socket_reach(svc, _proxy_images()) == reach
