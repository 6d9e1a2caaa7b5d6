"""The whole platform on this machine: `make lab` and `make lab-down`.

    make lab        # boot the three lab hosts, converge them, wait for ACME, print how to look
    make lab-down   # remove everything (hosts, bridge, outer services), then check-clean

`make lab` boots the lab (tests/lab/labctl.py), writes throw-away secrets with
the real `lostops secrets write` (tests/e2e/labsecrets.py), converges the hosts with
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
import os
import sys
import time

from tests.e2e import labenv, labsecrets, preflight, saltrun, tls
from tests.lab import labctl

CA_FILE = labenv.LAB_DIR / "ca.pem"
CREDENTIALS = labenv.CREDENTIALS
CERT_TIMEOUT = 180


def wait_for_certificates(names: dict[str, str], timeout: float = CERT_TIMEOUT) -> tuple[str, float]:
    """Wait until every name is served with a certificate from Pebble; (roots PEM, seconds)."""
    t0 = time.monotonic()
    roots = tls.pebble_roots()
    pending = dict(names)
    while pending and time.monotonic() - t0 < timeout:
        pending = {n: ip for n, ip in pending.items() if not tls.serves_verified(ip, n, roots)}
        if pending:
            time.sleep(2)
    if pending:
        raise RuntimeError(f"no ACME certificate after {timeout:.0f} s for: {', '.join(sorted(pending))}")
    return roots, time.monotonic() - t0


def converge() -> dict:
    """Boot (or reuse) the lab, converge it, wait for certificates. Returns facts for the summary."""
    lab = labctl.Lab()
    reused = lab.is_up()
    t0 = time.monotonic()
    lab.up()
    lab_env = labenv.read_env_file(lab.env_file)
    if not (reused and labenv.SECRETS_FILE.exists() and labenv.CREDENTIALS.exists()):
        # A reused lab keeps its secrets, or every container would be re-created.
        labsecrets.write_lab_secrets(lab_env)
    run = saltrun.salt_ssh("*", "state.apply", env=labenv.salt_env(lab_env), timeout=900)
    if not (run.rc == 0 and all(run.ok(h) for h in labenv.HOSTS)):
        raise RuntimeError("converge failed:\n" + run.report())
    names = tls.lab_names()
    roots, cert_s = wait_for_certificates(names)
    CA_FILE.write_text(roots)
    return {
        "reused": reused,
        "converge_s": run.seconds,
        "total_s": time.monotonic() - t0,
        "cert_s": cert_s,
        "names": names,
        "webhook_log": lab.webhook_log,
    }


def instructions(facts: dict) -> str:
    names = facts["names"]
    app = next(n for n in names if n.startswith("app."))
    prom = next(n for n in names if n.startswith("prometheus."))
    resolve = " ".join(f"--resolve {n}:443:{ip}" for n, ip in sorted(names.items()))
    rel = os.path.relpath
    how = "re-converged the running hosts" if facts["reused"] else f"booted and converged {len(labenv.HOSTS)} hosts"
    hosts = "   ".join(f"{h} {ip}" + (f" (through {via})" if via else "") for h, ip, via in labenv.host_addresses())
    return f"""
Lostops lab is up: {how} in {facts["total_s"]:.0f} s (salt-ssh {facts["converge_s"]:.0f} s,
ACME certificates from Pebble {facts["cert_s"]:.0f} s after). Everything below runs on this machine only.

Hosts:  {hosts}
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
    .venv/bin/python -m tests.lab.labctl ssh backend     # as lostops; sudo -n works
    .venv/bin/python -m tests.lab.labctl ssh database    # through backend, like production
Salt, exactly as production:
    . .lab/env && LOSTOPS_SECRETS_FILE=.lab/secrets.yaml .venv/bin/lostops salt-ssh '*' state.apply
Alerts: Alertmanager posts to the lab's Discord-webhook receiver; each POST is a line of
    {rel(facts["webhook_log"])}
Tear it all down:  make lab-down
""".rstrip()


def cmd_up() -> int:
    problem = preflight.problem()
    if problem:
        print(f"make lab: {problem.removeprefix('e2e: ')}", file=sys.stderr)
        return 2
    try:
        facts = converge()
    except (labctl.LabError, RuntimeError, AssertionError) as exc:
        print(f"make lab: {exc}", file=sys.stderr)
        print("make lab: the lab is left as it is for inspection; `make lab-down` removes it", file=sys.stderr)
        return 1
    print(instructions(facts))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.labup", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up",), help="make lab; make lab-down is labctl down + check-clean")
    parser.parse_args(argv)
    return cmd_up()


if __name__ == "__main__":
    sys.exit(main())
