"""The read-only Docker socket proxy: Debian's HAProxy with tecnativa/docker-socket-proxy's contract.

localhost/lostops-lab-docker-socket-proxy:lab   HAProxy (Debian), the production image's entrypoint contract

Production runs ghcr.io/tecnativa/docker-socket-proxy (HAProxy); the traefik
formula mounts its own rules over the image's template
(salt/lib/docker-socket-proxy.cfg.jinja), so the lab runs the same rules file.
"""

from __future__ import annotations

from tests.lab.images.recipe import PATH_ENV, Recipe

# The production image's contract (its Dockerfile and entrypoint): the template
# /usr/local/etc/haproxy/haproxy.cfg.template becomes /tmp/haproxy.cfg with
# ${BIND_CONFIG} filled in, then HAProxy runs in the foreground, master-worker.
ENTRYPOINT = r"""#!/bin/sh
set -e
case "$(printf '%s' "${DISABLE_IPV6:-0}" | tr 'A-Z' 'a-z')" in
    1|true|yes) bind=":2375" ;;
    *) bind="[::]:2375 v4v6" ;;
esac
sed "s/\${BIND_CONFIG}/$bind/g" /usr/local/etc/haproxy/haproxy.cfg.template > /tmp/haproxy.cfg
if [ "$1" = haproxy ]; then
    shift
    set -- haproxy -W -db "$@"
fi
exec "$@"
"""

RECIPE = Recipe(
    images={
        "docker-socket-proxy": {
            "Env": [*PATH_ENV, "SOCKET_PATH=/var/run/docker.sock", "LOG_LEVEL=info", "DISABLE_IPV6=0"],
            "Entrypoint": ["/usr/local/bin/socket-proxy-entrypoint.sh"],
            "Cmd": ["haproxy", "-f", "/tmp/haproxy.cfg"],
            "ExposedPorts": {"2375/tcp": {}},
            "package": "haproxy",
        },
    },
    packages=("haproxy",),
    versioned=("haproxy",),
    files={"usr/local/bin/socket-proxy-entrypoint.sh": (ENTRYPOINT, 0o755)},
    # Debian's own configuration is not the image's: only the mounted template counts.
    remove=("etc/haproxy/haproxy.cfg",),
    dirs=(("usr/local/etc/haproxy", 0, 0o755),),
)
