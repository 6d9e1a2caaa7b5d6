"""The end-to-end tier's summary: one line per check, printed at the end of the session (conftest.py)."""

from __future__ import annotations

from collections.abc import Callable


class Summary:
    """Lines for the terminal summary (tests/e2e/conftest.py prints them).

    Only what a test really measured is recorded; a check that failed records
    a FAILED line. Keys keep the order of the issue's list.
    """

    ORDER = [
        "NOT AS PRODUCTION",
        "lab",
        "converge",
        "second apply",
        "self-healing",
        "host facts",
        "listening ports",
        "matrix",
        "matrix udp",
        "app roll-out",
        "app roll-back",
        "app roll-out, other traefik labels",
        "app roll-out through traefik",
        "mysql re-create",
        "persistence after reboot",
        "missing secret",
        "unreachable host",
        "backup and restore",
        "alert delivery",
        "disaster recovery",
        "disaster recovery RTO/RPO",
        "backup upload alert",
        "rehearsal 1 before",
        "rehearsal 2 open",
        "rehearsal deploy job",
        "rehearsal 3 roll-out",
        "rehearsal 4 close",
        "rehearsal 5 expiry",
        "rehearsal 6 guard",
        "rehearsal drift job",
        "rehearsal 7 drift job",
        "rehearsal 8 ruleset change",
        "rehearsal 9 close past a failure",
        "rehearsal 10 overlapping runs",
        "timings",
        "memory",
        "teardown",
    ]

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    def ok(self, key: str, text: str) -> None:
        self.lines[key] = f"{key}: {text}"

    def failed(self, key: str, text: str) -> None:
        self.lines[key] = f"{key}: FAILED - {text}"

    def time(self, key: str, seconds: float) -> None:
        self.timings[key] = round(seconds, 1)

    def conclude(self, key: str, problems: list[str], ok: str | Callable[[], str]) -> None:
        """Record the check's line and fail the test on any problem.

        With problems: a FAILED line of each problem's first line, then an
        assertion listing them in full. Without: the `ok` text (a callable is
        only called then, so it may read values that exist only on success)."""
        if problems:
            self.failed(key, " | ".join(p.splitlines()[0] for p in problems))
        else:
            self.ok(key, ok() if callable(ok) else ok)
        assert not problems, "\n".join(problems)

    def render(self) -> list[str]:
        out = []
        keys = [k for k in self.ORDER if k in self.lines] + [k for k in self.lines if k not in self.ORDER]
        for k in keys:
            out.append(self.lines[k])
        if self.timings:
            out.append("times: " + ", ".join(f"{k} {v} s" for k, v in self.timings.items()))
        return out


SUMMARY = Summary()
