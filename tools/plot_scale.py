#!/usr/bin/env python3
"""Draw docs/scale.png from make bench-scale's results (run with .venv-plot's python: matplotlib).

    .venv-plot/bin/python tools/plot_scale.py .lab-scale.json docs/scale.png

Over the number of hosts: the first converge and the no-op re-apply
(seconds, the three-host budgets dashed; with make bench-scale-master also the
no-op highstate through salt-master), the hosts' peak memory (GiB) and the SSH
connections sshd accepted during a cold re-apply.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CONVERGE_BUDGET_S = 150
REAPPLY_BUDGET_S = 6


def main(src: str, dst: str) -> int:
    rows = [r for r in json.load(open(src, encoding="utf-8")) if "converge_s" in r]
    if not rows:
        print(f"{src}: no measured size", file=sys.stderr)
        return 1
    n = [r["hosts"] for r in rows]
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(13, 4), dpi=100)
    ax0.plot(n, [r["converge_s"] for r in rows], "o-", label="first converge")
    ax0.axhline(CONVERGE_BUDGET_S, ls="--", lw=0.8, color="C0", label=f"budget (3 hosts) {CONVERGE_BUDGET_S} s")
    ax0.set(xlabel="hosts", ylabel="seconds", title="salt-ssh: first converge", xticks=n, ylim=(0, None))
    ax0.legend(fontsize=8)
    ax1.plot(n, [r["reapply_s"][0] for r in rows], "s-", color="C1", label="no-op re-apply, cold")
    ax1.plot(n, [r["reapply_s"][1] for r in rows], "^:", color="C4", label="no-op re-apply, warm masters")
    ax1.plot(n, [r["reapply_all_at_once_s"] for r in rows], "v:", color="C5", label="warm, all hosts at once")
    m = [r for r in rows if "master_noop_s" in r]
    if m:
        ax1.plot([r["hosts"] for r in m], [r["master_noop_s"] for r in m], "D-", color="C2",
                 label="salt-master: no-op highstate")  # fmt: skip
    ax1.axhline(REAPPLY_BUDGET_S, ls="--", lw=0.8, color="C1", label=f"budget (3 hosts) {REAPPLY_BUDGET_S} s")
    ax1.set(
        xlabel="hosts",
        ylabel="seconds",
        title="no-op re-apply" if m else "salt-ssh: no-op re-apply",
        xticks=n,
        ylim=(0, None),
    )
    ax1.legend(fontsize=8)
    ax2.plot(n, [r["host_peak_mib"] / 1024 for r in rows], "o-", color="C2", label="hosts' peak memory (GiB)")
    ax2.set(xlabel="hosts", ylabel="GiB", title="memory and SSH connections", xticks=n, ylim=(0, None))
    ax3 = ax2.twinx()
    ax3.plot(n, [r["ssh_connections"][0] for r in rows], "s--", color="C3", label="ssh connections, cold re-apply")
    ax3.set(ylabel="connections", ylim=(0, None))
    lines = ax2.get_lines() + ax3.get_lines()
    ax2.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(dst, metadata={"Software": None})
    print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
