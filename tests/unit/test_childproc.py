"""lostops.childproc: a kept child process answering JSON lines (the Salt renderer and the synth worker use it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lostops.childproc import CHILD_PREAMBLE, ChildGone, JsonLineChild

ECHO = (
    CHILD_PREAMBLE
    + """
import json, sys, time
for line in sys.stdin:
    req = json.loads(line)
    print("noise from an import")  # stdout goes to stderr: never into an answer
    if req.get("exit"):
        sys.exit(3)
    time.sleep(req.get("sleep", 0))
    reply.write(json.dumps({"n": req["n"] * 2}) + "\\n")
    reply.flush()
"""
)


def child() -> JsonLineChild:
    return JsonLineChild([sys.executable, "-c", ECHO], cwd=os.getcwd(), env=dict(os.environ), stderr=subprocess.DEVNULL)


def test_answers_many_requests_from_one_process():
    c = child()
    try:
        assert [c.ask({"n": n}, 10)["n"] for n in (1, 2, 3)] == [2, 4, 6]
        assert c.alive()
    finally:
        c.close()
    assert not c.alive()


def test_a_child_that_exits_or_does_not_answer_is_gone():
    c = child()
    with pytest.raises(ChildGone, match="exit 3"):
        c.ask({"n": 1, "exit": True}, 10)
    c = child()
    with pytest.raises(ChildGone, match="no answer within 1 s"):
        c.ask({"n": 1, "sleep": 30}, 1)
    assert not c.alive(), "a child that did not answer is stopped"
