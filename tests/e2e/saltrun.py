"""salt-ssh runs as production runs them (the repository's Saltfile and roster), and their results."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field

from tests.e2e.labenv import LAB_DIR, REPO, SALT_SSH
from tests.e2e.summary import SUMMARY


def parse_json_docs(text: str) -> list:
    """salt-ssh --out=json prints one JSON document per minion."""
    dec = json.JSONDecoder()
    docs, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] not in "{[":
            # a stray non-JSON line (warning): skip it
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        docs.append(obj)
        i = end
    return docs


@dataclass
class SaltRun:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float
    returns: dict = field(default_factory=dict)  # minion -> return

    def states(self, minion: str) -> dict | None:
        """{state key: result dict} or None when the minion returned no state data."""
        ret = self.returns.get(minion)
        if isinstance(ret, dict) and ret and all(isinstance(v, dict) and "result" in v for v in ret.values()):
            return ret
        return None

    def error(self, minion: str) -> str | None:
        """A one-paragraph description of why `minion` has no (good) state data."""
        ret = self.returns.get(minion)
        if ret is None:
            return "no return at all"
        if self.states(minion) is not None:
            return None
        if isinstance(ret, list):
            return " | ".join(str(x) for x in ret)
        if isinstance(ret, dict):
            parts = []
            for k in ("_error", "stderr", "stdout", "return"):
                if ret.get(k):
                    parts.append(f"{k}: {str(ret[k]).strip()[:600]}")
            if "retcode" in ret:
                parts.append(f"retcode {ret['retcode']}")
            return "; ".join(parts) or json.dumps(ret)[:600]
        return str(ret)[:600]

    def failures(self, minion: str) -> list[str]:
        st = self.states(minion)
        if st is None:
            return [f"(no state results) {self.error(minion)}"]
        out = []
        for key, r in sorted(st.items(), key=lambda kv: kv[1].get("__run_num__", 0)):
            if r.get("result") is not True:
                sid = r.get("__id__") or key
                comment = str(r.get("comment", "")).strip().replace("\n", " | ")
                out.append(f"{sid}: {comment[:700]}")
        return out

    def changed(self, minion: str) -> list[str]:
        st = self.states(minion) or {}
        out = []
        for key, r in sorted(st.items(), key=lambda kv: kv[1].get("__run_num__", 0)):
            if r.get("changes"):
                sid = r.get("__id__") or key
                out.append(f"{sid}: {json.dumps(r['changes'], default=str)[:300]}")
        return out

    def slowest(self, minion: str, n: int = 3) -> list[tuple[str, float]]:
        """The `n` states of `minion` that took longest: (state id, seconds), from Salt's own `duration` (ms)."""
        st = self.states(minion) or {}
        took = [(r.get("__id__") or k, float(r.get("duration") or 0) / 1000) for k, r in st.items()]
        return sorted(took, key=lambda t: -t[1])[:n]

    def ok(self, minion: str) -> bool:
        return self.states(minion) is not None and not self.failures(minion)

    def state(self, minion: str, state_id: str) -> dict | None:
        for key, r in (self.states(minion) or {}).items():
            if r.get("__id__") == state_id or key.split("_|-")[1:2] == [state_id]:
                return r
        return None

    def report(self, minions=None) -> str:
        lines = [f"$ {' '.join(shlex.quote(a) for a in self.argv)}  (exit {self.rc}, {self.seconds:.1f} s)"]
        for m in minions or sorted(self.returns):
            fails = self.failures(m)
            if fails:
                lines.append(f"  {m}: {len(fails)} failing:")
                lines += [f"    - {f}" for f in fails[:40]]
            else:
                lines.append(f"  {m}: OK")
        if not self.returns:
            lines.append("  no JSON return; stdout tail:\n" + self.stdout[-3000:])
            lines.append("  stderr tail:\n" + self.stderr[-3000:])
        return "\n".join(lines)


# Developer-only switches (never in CI): extra salt-ssh arguments and a JSON
# pillar deep-merged into every run, to get past a formula bug while iterating.
# Any use is printed in the summary as NOT-as-production.
DEV_ARGS = shlex.split(os.environ.get("LOSTOPS_E2E_SALT_ARGS", ""))
DEV_PILLAR = json.loads(os.environ.get("LOSTOPS_E2E_PILLAR") or "null")


def deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def salt_ssh(
    target: str,
    *args: str,
    env: dict,
    pillar: dict | None = None,
    timeout: float = 900,
) -> SaltRun:
    """Run salt-ssh from the repository root (Saltfile + etc/salt), as production."""
    argv = [*SALT_SSH, target, *args, *DEV_ARGS, "--out=json"]
    if DEV_ARGS or DEV_PILLAR:
        SUMMARY.ok(
            "NOT AS PRODUCTION",
            f"developer switches in effect: LOSTOPS_E2E_SALT_ARGS={DEV_ARGS} LOSTOPS_E2E_PILLAR={DEV_PILLAR}",
        )
    if DEV_PILLAR and "state." in " ".join(args):
        pillar = deep_merge(DEV_PILLAR, pillar or {})
    if pillar is not None:
        argv.append("pillar=" + json.dumps(pillar))
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as exc:
        rc = -9
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = (
            exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        ) + f"\nTIMEOUT after {timeout} s"
    run = SaltRun(argv, rc, out, err, time.monotonic() - t0)
    for doc in parse_json_docs(out):
        if isinstance(doc, dict):
            run.returns.update(doc)
    log_dir = LAB_DIR / "salt-runs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%H%M%S")
    (log_dir / f"{stamp}-{len(list(log_dir.iterdir())):03d}.log").write_text(
        f"{run.argv}\nexit {rc} in {run.seconds:.1f} s\n--- stdout\n{out}\n--- stderr\n{err}\n"
    )
    return run
