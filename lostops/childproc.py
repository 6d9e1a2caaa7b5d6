"""A child process that answers one JSON line for each JSON line it is sent.

For work whose start costs more than one answer: lostops.render keeps a Salt
process per host, the unit tests keep one cdktf synth process. The child's
script begins with CHILD_PREAMBLE: it answers on a copy of its stdout made
first thing, and sends its stdout to stderr, so nothing it imports or prints
can end up in an answer.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time

CHILD_PREAMBLE = """\
import os
reply = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
"""


class ChildGone(RuntimeError):
    """The child exited, or did not answer in time (it is stopped then)."""


class JsonLineChild:
    def __init__(self, argv: list[str], *, cwd, env: dict, stderr):
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        self._buffer = b""
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _readline(self, timeout: float) -> bytes | str:
        """One answer line, or why there is none ("exit N" or "no answer within T s")."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return f"no answer within {timeout:.0f} s"
            chunk = os.read(fd, 1 << 20)
            if not chunk:  # the child closed its answers: it is ending
                try:
                    return f"exit {self.proc.wait(timeout=10)}"
                except subprocess.TimeoutExpired:
                    return "closed its output"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def ask(self, request: dict, timeout: float) -> dict:
        """The child's answer to `request`; ChildGone when it exited or did not answer within `timeout` s."""
        with self._lock:
            try:
                self.proc.stdin.write(json.dumps(request).encode() + b"\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
            line = self._readline(timeout)
            if isinstance(line, str):
                self._stop(kill=True)
                raise ChildGone(line)
            return json.loads(line)

    def _stop(self, kill: bool) -> None:
        if not self.alive():
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close(self, kill: bool = False) -> None:
        """End the child: close its input (it finishes its loop), or kill it."""
        with self._lock:
            self._stop(kill)
