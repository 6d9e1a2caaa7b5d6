#!/usr/bin/env python3
"""How the cost grows with the fleet (make bench-scale; root; not part of make test).

For every size in LOSTOPS_SCALE_SIZES (default 3,6,9 hosts) a generated lab
inventory (tests/lab/scale.py: the lab's three hosts plus backends) is booted,
converged with `salt-ssh '*' state.apply` and re-applied twice (no-op); per size
it records the first converge, the no-op re-apply (cold: no ssh master open,
as in a release; then warm: the masters of the run before still open), the SSH
connections sshd accepted during each, one more warm re-apply with every host
at once (`--max-procs=<hosts>` instead of ssh_max_procs 3: the knob), the hosts' peak memory (sum of
their cgroups' high-water marks, page cache included) and salt-ssh's own peak
RSS. Each size runs in its own process under the shared lab lock
(/tmp/lostops-lab.lock), taken per size so other users of the lab get their
turn in between. The results go to docs/figures.md (section `scale`) and to
docs/scale.png, drawn by tools/plot_scale.py with matplotlib from its own venv
(.venv-plot, tools/requirements-plot.txt).

LOSTOPS_SCALE_KEEP=1 keeps the last run's results of the sizes not in
LOSTOPS_SCALE_SIZES (one size measured again; every row says when it was
measured).

With LOSTOPS_SCALE_MASTER=1 (`make bench-scale-master`) the generated inventory
sets ``salt.master: monitoring`` and the hosts get Salt (tests/lab/saltmaster.py):
after the salt-ssh figures, a salt-master on the monitoring host and a minion on
every host, keys accepted by fingerprint; two highstates through the master (the
first fills the minions' file caches, the second is the no-op re-apply, timed on
the master) compared state by state with a salt-ssh re-apply run just before
them, and every minion's own pillar checked for other roles' secrets.

Exit 0: every size measured; 1: a size failed (converge, re-apply, teardown, or
in master mode: a different state result, a change, a foreign secret).
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

LOCK = "/tmp/lostops-lab.lock"
REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / ".lab-scale.json"
PLOT = REPO / "docs" / "scale.png"
PLOT_PYTHON = REPO / ".venv-plot" / "bin" / "python"


def _utc(seconds: float) -> str:
    """When a size was measured, as each row of the section says it."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def measure(hosts: int) -> dict:
    """One size, in this process (LOSTOPS_LAB_INVENTORY already selects the generated inventory)."""
    from tests.e2e import labenv, labsecrets, probes, profile, saltrun
    from tests.lab import labctl, saltmaster

    lab = labctl.Lab()
    res: dict = {"hosts": hosts, "ok": False, "measured_at": _utc(time.time())}
    try:
        if lab.is_up():
            lab.down()
        t0 = time.monotonic()
        lab.up()
        res["boot_s"] = round(time.monotonic() - t0, 1)
        env = labenv.salt_env(labenv.read_env_file(lab.env_file))
        labsecrets.write_lab_secrets(labenv.read_env_file(lab.env_file))
        first = saltrun.salt_ssh("*", "state.apply", env=env, timeout=1800)
        res["converge_s"] = round(first.seconds, 1)
        ok = first.rc == 0 and all(first.ok(h) for h in labenv.HOSTS)
        if not ok:
            print(first.report(labenv.HOSTS), file=sys.stderr)
        for h in labenv.HOSTS:
            lab.reset_peak_memory(h)
        reapply, changes, conns = [], 0, []
        for kind in ("cold", "warm"):
            if kind == "cold":
                profile.close_masters(env)
            before = profile.accepted_connections(lab, labenv.HOSTS)
            run = saltrun.salt_ssh("*", "state.apply", env=env, timeout=900)
            conns.append(profile.accepted_connections(lab, labenv.HOSTS) - before)
            reapply.append(round(run.seconds, 1))
            changes += sum(len(run.changed(h)) for h in labenv.HOSTS)
            ok = ok and run.rc == 0
        # the knob: every host at once instead of ssh_max_procs (3) at a time
        wide = saltrun.salt_ssh("*", "state.apply", f"--max-procs={hosts}", env=env, timeout=900)
        ok = ok and wide.rc == 0
        res.update(
            reapply_all_at_once_s=round(wide.seconds, 1),
            reapply_s=reapply,
            reapply_changes=changes,
            ssh_connections=conns,
            host_peak_mib=round(sum(lab.peak_memory(h) for h in labenv.HOSTS) / 2**20),
            host_anon_mib=round(sum(lab.memory(h)["anon"] for h in labenv.HOSTS) / 2**20),
            salt_ssh_peak_rss_mib=round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            load=round(os.getloadavg()[0], 1),
        )
        res["ok"] = ok and changes == 0
        if saltmaster.enabled():
            from lostops import inventory

            try:
                m = saltmaster.measure(
                    lab,
                    inventory.load(),
                    labenv.SECRETS_FILE,
                    lambda: saltrun.salt_ssh("*", "state.apply", env=env, timeout=900),
                )
            except Exception as exc:  # the salt-ssh figures of this size are kept
                import traceback

                traceback.print_exc()
                m = {"master_error": f"{type(exc).__name__}: {exc}"[:500]}
            res.update(m)
            res["ok"] = res["ok"] and bool(
                m.get("master_same_as_salt_ssh") and m.get("pillar_isolated") and m.get("master_changes") == 0
            )
    finally:
        _, r = probes.down_and_check_clean(lab)
        res["clean"] = r.returncode == 0
    return res


def run_size(hosts: int) -> dict:
    """One size in a child process, under the lab lock."""
    from tests.lab import scale

    master = os.environ.get("LOSTOPS_SCALE_MASTER") == "1"
    scale.write(hosts, salt_master="monitoring" if master else None)
    env = {**os.environ, "LOSTOPS_LAB_INVENTORY": scale.NAME, "LOSTOPS_INVENTORY": scale.NAME}
    if master:
        env["LOSTOPS_LAB_SALT"] = "1"
    with open(LOCK, "a") as fh:
        print(f"bench-scale: {hosts} hosts: waiting for {LOCK}", flush=True)
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "tests.e2e.bench_scale", "--one", str(hosts)],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=3600,
            )
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    sys.stderr.write(proc.stderr[-4000:])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"hosts": hosts, "ok": False, "error": f"exit {proc.returncode}"}


def kept_results(sizes: list[int]) -> list[dict]:
    """LOSTOPS_SCALE_KEEP=1: the last run's results (.lab-scale.json) of the sizes not measured now.

    One size can then be measured again without the others; each row says when
    it was measured (a result without its own time: the file's).
    """
    try:
        old = json.loads(RESULTS.read_text())
        stamp = _utc(RESULTS.stat().st_mtime)
    except (OSError, ValueError):
        return []
    kept = [r for r in old if isinstance(r, dict) and r.get("hosts") not in sizes]
    for r in kept:
        r.setdefault("measured_at", stamp)
    return kept


def rows(results: list[dict]) -> list[tuple[str, str]]:
    out = []
    for r in results:
        if "converge_s" not in r:
            out.append((f"{r['hosts']} hosts", f"FAILED ({r.get('error', 'see stderr')})"))
            continue
        out.append(
            (
                f"{r['hosts']} hosts",
                f"first converge {r['converge_s']} s; no-op re-apply cold {r['reapply_s'][0]} s, warm "
                f"{r['reapply_s'][1]} s, warm with --max-procs={r['hosts']} {r['reapply_all_at_once_s']} s "
                f"({r['reapply_changes']} changes); ssh connections cold "
                f"{r['ssh_connections'][0]}, warm {r['ssh_connections'][1]}; hosts' peak memory "
                f"{r['host_peak_mib']} MiB (anon {r['host_anon_mib']} MiB); salt-ssh peak RSS "
                f"{r['salt_ssh_peak_rss_mib']} MiB; load {r['load']}{master_text(r)}{'' if r['ok'] else '; FAILED'}"
                + (f" (measured {r['measured_at']})" if r.get("measured_at") else ""),
            )
        )
    return out


def master_text(r: dict) -> str:
    """The salt-master part of a row (LOSTOPS_SCALE_MASTER=1), or ''."""
    if "master_error" in r:
        return f"; salt-master: FAILED ({r['master_error'][:200]})"
    if "master_noop_s" not in r:
        return ""
    same = "same" if r["master_same_as_salt_ssh"] else "DIFFERENT"
    return (
        f"; **salt-master**: no-op highstate {r['master_noop_s']} s on the master ({r['master_noop_wall_s']} s with "
        f"the ssh call; salt-ssh's re-apply just before {r['salt_ssh_reference_s']} s), first highstate "
        f"{r['master_first_s']} s, set-up with key checks {r['master_setup_s']} s; "
        f"{r['master_states']} state results {same} as salt-ssh, {r['master_changes']} changes; pillar secrets per "
        f"role: {'yes' if r['pillar_isolated'] else 'NO'}; ZeroMQ from the admin address: "
        f"{'/'.join(sorted(set(r['zeromq_from_admin'].values())))}"
    )


def main() -> int:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure(int(sys.argv[2]))), flush=True)
        return 0
    from lostops import figures
    from tests.lab import scale

    sizes = [int(s) for s in os.environ.get("LOSTOPS_SCALE_SIZES", "3,6,9").split(",") if s.strip()]
    master = os.environ.get("LOSTOPS_SCALE_MASTER") == "1"
    if master:  # built (or found) before the lab lock is taken
        from tests.lab import saltmaster

        print(f"bench-scale: Salt for the hosts: {saltmaster.ensure_tree()}", flush=True)
    kept = kept_results(sizes) if os.environ.get("LOSTOPS_SCALE_KEEP") == "1" else []
    results = []
    try:
        for n in sizes:
            r = run_size(n)
            print(f"bench-scale: {json.dumps(r)}", flush=True)
            results.append(r)
    finally:
        scale.remove()
    results = sorted(kept + results, key=lambda r: r["hosts"])
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    note = (
        (
            "salt-ssh and, on the same boot, salt-master on the monitoring host (make bench-scale-master); "
            if master
            else ""
        )
        + "salt-ssh through `lostops salt-ssh` (thin bundle kept, the run's pillar-bearing files removed per host, "
        "grains from the cache while a host is unchanged, ssh commands closed without Salt's fixed sleeps, Jinja's "
        "bytecode cache; lostops/saltssh.py), ssh_max_procs 3; each size booted fresh; load: the 1-min load "
        "average (2 cores) after its salt-ssh re-applies. Plot: docs/scale.png."
    )
    print(f"figures: {figures.record('scale', rows(results), note=note)}")
    if PLOT_PYTHON.exists():
        subprocess.run([str(PLOT_PYTHON), "tools/plot_scale.py", str(RESULTS), str(PLOT)], cwd=REPO, check=True)
        print(f"plot: {PLOT}")
    return 0 if all(r.get("ok") and r.get("clean") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
