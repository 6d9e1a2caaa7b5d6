"""The whole platform on this machine: `make lab` and `make lab-down`.

    make lab        # boot the three lab hosts, converge them, wait for ACME, print how to look
    make lab-down   # remove everything (hosts, bridge, outer services), then check-clean

`make lab` boots the lab (tests/lab/labctl.py), writes throw-away secrets with
the real `lostops secrets write` (tests/e2e/lib.py), converges the hosts with
the same `salt-ssh '*' state.apply` as production and the end-to-end tier,
waits until Traefik serves the certificates it obtained from the lab's Pebble
ACME server, and leaves everything running. It ends by printing what to open
and how: the app and Prometheus through Traefik, the CA to trust (Pebble's
issuing root, written to .lab/ca.pem), the credentials it generated
(.lab/credentials, 0600), SSH commands and the Discord-webhook receiver's log.
A second `make lab` reuses the running hosts and their secrets and converges
again (a no-op when nothing changed).

On a machine that cannot run the lab it prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import ssl
import sys
import time

from tests.e2e import lib, preflight

CA_FILE = lib.LAB_DIR / "ca.pem"
CREDENTIALS = lib.CREDENTIALS
CERT_TIMEOUT = 180


def lab_names() -> dict[str, str]:
    """{DNS name: private IP} of the lab inventory's hosts (Traefik's routers)."""
    from lostops import inventory

    inv = inventory.load("lab")
    return {name: str(host.private_ip) for host in inv.hosts.values() for name in host.dns}


def pebble_roots() -> str:
    """PEM of Pebble's current issuing root (new at every Pebble start), over its verified API."""
    import outer  # tests/lab/outer.py: on sys.path through lib (like labctl)

    ctx = ssl.create_default_context(cafile=str(outer.lab_ca(lib.labctl.CACHE)[0]))
    conn = http.client.HTTPSConnection(lib.ADMIN_IP, outer.PEBBLE_MGMT_PORT, context=ctx, timeout=5)
    conn.request("GET", "/roots/0")
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"Pebble /roots/0 answered {resp.status}")
    return resp.read().decode()


def serves_verified(ip: str, name: str, roots: str, source: str = lib.INTERNET_IP) -> bool:
    """Does ip:443 present a certificate for `name` that chains to `roots`?"""
    ctx = ssl.create_default_context(cadata=roots)
    try:
        raw = socket.create_connection((ip, 443), timeout=5, source_address=(source, 0))
        with ctx.wrap_socket(raw, server_hostname=name):
            return True
    except (OSError, ssl.SSLError):
        return False


def wait_for_certificates(names: dict[str, str], timeout: float = CERT_TIMEOUT) -> tuple[str, float]:
    """Wait until every name is served with a certificate from Pebble; (roots PEM, seconds)."""
    t0 = time.monotonic()
    roots = pebble_roots()
    pending = dict(names)
    while pending and time.monotonic() - t0 < timeout:
        pending = {n: ip for n, ip in pending.items() if not serves_verified(ip, n, roots)}
        if pending:
            time.sleep(2)
    if pending:
        raise RuntimeError(f"no ACME certificate after {timeout:.0f} s for: {', '.join(sorted(pending))}")
    return roots, time.monotonic() - t0


def converge() -> dict:
    """Boot (or reuse) the lab, converge it, wait for certificates. Returns facts for the summary."""
    lab = lib.labctl.Lab()
    reused = lab.is_up()
    t0 = time.monotonic()
    lab.up()
    lab_env = lib.read_env_file(lab.env_file)
    if not (reused and lib.SECRETS_FILE.exists() and lib.CREDENTIALS.exists()):
        # A reused lab keeps its secrets, or every container would be re-created.
        lib.write_lab_secrets(lab_env)
    run = lib.salt_ssh("*", "state.apply", env=lib.salt_env(lab_env), timeout=900)
    if not (run.rc == 0 and all(run.ok(h) for h in lib.HOSTS)):
        raise RuntimeError("converge failed:\n" + run.report())
    names = lab_names()
    roots, cert_s = wait_for_certificates(names)
    CA_FILE.write_text(roots)
    return {
        "reused": reused,
        "converge_s": run.seconds,
        "total_s": time.monotonic() - t0,
        "cert_s": cert_s,
        "names": names,
    }


def instructions(facts: dict) -> str:
    names = facts["names"]
    app = next(n for n in names if n.startswith("app."))
    prom = next(n for n in names if n.startswith("prometheus."))
    resolve = " ".join(f"--resolve {n}:443:{ip}" for n, ip in sorted(names.items()))
    rel = os.path.relpath
    how = "re-converged the running hosts" if facts["reused"] else "booted and converged 3 hosts"
    return f"""
Lostops lab is up: {how} in {facts["total_s"]:.0f} s (salt-ssh {facts["converge_s"]:.0f} s,
ACME certificates from Pebble {facts["cert_s"]:.0f} s after). Everything below runs on this machine only.

Hosts:  backend {lib.host_ip("backend")}   database {lib.host_ip("database")} (through backend)   monitoring {lib.host_ip("monitoring")}
Names:  {", ".join(f"{n} -> {ip}" for n, ip in sorted(names.items()))}  (no DNS: use --resolve)

Trust ONLY the lab CA (Pebble's issuing root, new at every lab start): {rel(CA_FILE)}
  the app, through Traefik:
    curl --cacert {rel(CA_FILE)} {resolve} https://{app}/
  HTTP is only a redirect:
    curl -sI --resolve {app}:80:{names[app]} http://{app}/
  Prometheus, through Traefik (basic auth; user and password in {rel(CREDENTIALS)}):
    curl --cacert {rel(CA_FILE)} {resolve} -u prometheus:PASSWORD https://{prom}/api/v1/targets
  a browser: chromium --host-resolver-rules="{", ".join(f"MAP {n} {ip}" for n, ip in sorted(names.items()))}"
    after importing {rel(CA_FILE)} as an authority (tests/e2e/browser.py does it headless).

SSH (key .lab/id_ed25519, host keys checked):
    python3 tests/lab/labctl.py ssh backend          # as lostops; sudo -n works
    python3 tests/lab/labctl.py ssh database         # through backend, like production
Salt, exactly as production:
    . .lab/env && LOSTOPS_SECRETS_FILE=.lab/secrets.yaml .venv/bin/salt-ssh '*' state.apply
Alerts: Alertmanager posts to the lab's Discord-webhook receiver; each POST is a line of
    .lab/webhook/requests.jsonl
Tear it all down:  make lab-down
""".rstrip()


def cmd_up() -> int:
    problem = preflight.problem()
    if problem:
        print(f"make lab: {problem.removeprefix('e2e: ')}", file=sys.stderr)
        return 2
    try:
        facts = converge()
    except (lib.labctl.LabError, RuntimeError, AssertionError) as exc:
        print(f"make lab: {exc}", file=sys.stderr)
        print("make lab: the lab is left as it is for inspection; `make lab-down` removes it", file=sys.stderr)
        return 1
    print(instructions(facts))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.labup", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up",), help="make lab; make lab-down is labctl.py down + check-clean")
    parser.parse_args(argv)
    return cmd_up()


if __name__ == "__main__":
    sys.exit(main())
