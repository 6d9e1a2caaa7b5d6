"""Stand-in container image for the Lostops lab.

No container image can be pulled on the lab machines (no registry is
reachable), so the lab ships ONE tiny image of its own and loads it into the
hosts' Docker with ``docker load -i``:

    localhost/lostops-standin:lab

It is a *generic TCP/HTTP listener stand-in*, built from Debian's static
busybox binary: ``/bin/busybox`` plus applet symlinks (sh, httpd, nc, wget,
sleep, cat, echo, ls, mkdir, ...) and a ``/www/index.html`` containing ``ok``.
A lab service that must "listen on port N" runs, for example::

    busybox httpd -f -p 0.0.0.0:3306 -h /www

so that tests can check *reachability* of published ports (firewall, Docker
port publishing, jump hosts). It is NOT MySQL, NOT Traefik, NOT Grafana and
must never be used to claim that those programs work: it only answers TCP
(and plain HTTP with "ok").

The file written is a docker-archive (the ``docker save`` format that
``docker load`` accepts): ``manifest.json`` + ``<sha256>.json`` (image
config) + ``<layer id>/layer.tar``. It is built deterministically with the
standard library only (tarfile, hashlib, json), so the same busybox binary
gives the same image ID.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

IMAGE_TAG = "localhost/lostops-standin:lab"
BUSYBOX = "/bin/busybox"
# Applets that must exist even if `busybox --list` cannot be run.
MIN_APPLETS = [
    "sh",
    "ash",
    "httpd",
    "nc",
    "wget",
    "sleep",
    "cat",
    "echo",
    "ls",
    "mkdir",
    "rm",
    "cp",
    "mv",
    "ps",
    "kill",
    "env",
    "true",
    "false",
    "id",
    "hostname",
    "ip",
    "ifconfig",
    "netstat",
    "grep",
    "sed",
    "awk",
    "head",
    "tail",
    "tee",
    "touch",
    "date",
    "uname",
    "which",
    "printf",
    "test",
    "[",
    "[[",
]
_EPOCH = 0  # fixed mtime: deterministic archives


def _applets(busybox: str) -> list[str]:
    try:
        out = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    names = sorted(set(out) | set(MIN_APPLETS))
    return [n for n in names if n and "/" not in n and n != "busybox"]


def _info(name: str, *, type_=tarfile.REGTYPE, mode=0o644, size=0, linkname="") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.size = size
    ti.linkname = linkname
    ti.mtime = _EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def build_layer(busybox: str = BUSYBOX) -> bytes:
    """The single root filesystem layer as an uncompressed tar (bytes)."""
    data = Path(busybox).read_bytes()
    files: dict[str, bytes] = {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
        "etc/hostname": b"standin\n",
        "www/index.html": b"ok\n",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in [
            "bin",
            "etc",
            "root",
            "tmp",
            "www",
            "var",
            "var/run",
            "proc",
            "sys",
            "dev",
        ]:
            mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(_info(d, type_=tarfile.DIRTYPE, mode=mode))
        tar.addfile(_info("bin/busybox", mode=0o755, size=len(data)), io.BytesIO(data))
        for applet in _applets(busybox):
            tar.addfile(
                _info(
                    f"bin/{applet}",
                    type_=tarfile.SYMTYPE,
                    mode=0o777,
                    linkname="busybox",
                )
            )
        for name, content in sorted(files.items()):
            tar.addfile(_info(name, size=len(content)), io.BytesIO(content))
    return buf.getvalue()


def build_archive(out: Path, busybox: str = BUSYBOX, tag: str = IMAGE_TAG) -> str:
    """Write a docker-archive tarball to ``out``; return the image ID (sha256:...)."""
    layer = build_layer(busybox)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
            # busybox as PID 1 ignores SIGTERM; a stateless stand-in may die at once
            # (otherwise every `docker stop` and host reboot waits 10 s).
            "StopSignal": "SIGKILL",
            "Labels": {
                "org.lostops.lab.standin": "generic TCP/HTTP listener (busybox); NOT MySQL/Traefik",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {
                "created": "1970-01-01T00:00:00Z",
                "created_by": "tests/lab/standin.py (busybox-static)",
            }
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    layer_dir = hashlib.sha256(layer).hexdigest()
    manifest = [
        {
            "Config": f"{config_hex}.json",
            "RepoTags": [tag],
            "Layers": [f"{layer_dir}/layer.tar"],
        }
    ]
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    repo, _, tagname = tag.rpartition(":")
    repositories = json.dumps({repo: {tagname: layer_dir}}).encode()
    layer_json = json.dumps(
        {
            "id": layer_dir,
            "created": "1970-01-01T00:00:00Z",
            "os": "linux",
            "architecture": "amd64",
        }
    ).encode()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info(layer_dir, type_=tarfile.DIRTYPE, mode=0o755))
        for name, content in [
            (f"{layer_dir}/VERSION", b"1.0"),
            (f"{layer_dir}/json", layer_json),
            (f"{layer_dir}/layer.tar", layer),
            (f"{config_hex}.json", config_bytes),
            ("manifest.json", manifest_bytes),
            ("repositories", repositories),
        ]:
            tar.addfile(_info(name, size=len(content)), io.BytesIO(content))
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return "sha256:" + config_hex


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "standin.tar")
    print(build_archive(target))
