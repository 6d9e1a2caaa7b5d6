"""The just-in-time SSH set of the host firewall, on the real nft.

The ruleset exactly as Salt renders it is loaded into a throw-away network
namespace; then the very command that `lostops jit open` sends to a
host (through Azure's run-command, or the lab's nsenter) adds the runner's
address with a timeout. Checked: the element is there with its timeout, it
expires by itself, `close` removes it, the rule accepting SSH from the set
exists in input, and a reload of the file (what Salt does when the file
changed) empties the set, while Salt's loader (files/load.sh.jinja) keeps
the elements, with the time they had left, in the same transaction.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lostops import jit as jit_module

REPO = Path(__file__).resolve().parents[2]
CONFIG = "/etc/nftables.conf"


def _jit():
    return jit_module


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc


@pytest.fixture
def ns():
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"):
        pytest.fail("needs root, nft and ip (apt-get install nftables iproute2)", pytrace=False)
    name = f"lojit{os.getpid() % 100000}"
    _run("ip", "netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _in_ns(ns: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run("ip", "netns", "exec", ns, "sh", "-c", script, check=check)


def _elements(ns: str) -> list:
    out = _in_ns(ns, "nft -j list set inet lostops jit_ssh").stdout
    sets = [item["set"] for item in json.loads(out)["nftables"] if "set" in item]
    return sets[0].get("elem", [])


def _wait_expired(ns: str, ip: str, within: float = 5) -> None:
    """Until the kernel no longer lists `ip` in the set (its timeout ran out), at most `within` s."""
    deadline = time.monotonic() + within
    while any(e["elem"]["val"] == ip for e in _elements(ns)) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.parametrize("host", ["backend", "monitoring"])
def test_jit_set_open_expire_close_and_reload(highstate, managed_files, tmp_path, ns, host):
    jit = _jit()
    hs = highstate(host, "example")
    assert "firewall-config-file-managed" in hs
    text = managed_files(host, "example")[CONFIG]
    assert "set jit_ssh {" in text and "flags timeout" in text
    assert 'ip saddr @jit_ssh tcp dport 22 accept comment "just-in-time SSH' in text
    conf = tmp_path / "nftables.conf"
    conf.write_text(text)
    _in_ns(ns, f"nft -f {conf}")
    assert _elements(ns) == []

    # open: the script's own host command, 1 s timeout for the test
    _in_ns(ns, jit.host_script("open", "192.0.2.77", ttl="1s"))
    elems = _elements(ns)
    assert len(elems) == 1 and elems[0]["elem"]["val"] == "192.0.2.77", elems
    assert elems[0]["elem"]["timeout"] == 1
    # opening twice is fine (a retried step)
    _in_ns(ns, jit.host_script("open", "192.0.2.77", ttl="1s"))
    _wait_expired(ns, "192.0.2.77")
    assert _elements(ns) == [], "the element did not expire within 5 s of a 1 s timeout"

    # close removes it at once; closing an absent element is not an error
    _in_ns(ns, jit.host_script("open", "192.0.2.78", ttl="30m"))
    assert len(_elements(ns)) == 1
    _in_ns(ns, jit.host_script("close", "192.0.2.78"))
    assert _elements(ns) == []
    _in_ns(ns, jit.host_script("close", "192.0.2.78"))

    # check reports the elements (what the drift check reads)
    _in_ns(ns, jit.host_script("open", "192.0.2.79", ttl="30m"))
    listed = _in_ns(ns, jit.host_script("check", None)).stdout
    assert jit.parse_set_elements(listed) == ["192.0.2.79"]

    # a plain reload of the file recreates the table: the set is empty again
    _in_ns(ns, f"nft -f {conf}")
    assert _elements(ns) == []

    # Salt loads it with the loader, which keeps the elements with the time
    # they had left, in the same transaction (a ruleset change in the middle
    # of a roll-out must not cut the runner's new SSH connections)
    assert "firewall-loader-file-managed" in hs
    loader = tmp_path / "lostops-firewall-load"
    loader.write_text(managed_files(host, "example")["/usr/local/sbin/lostops-firewall-load"])
    loader.chmod(0o755)
    for state_id in ("firewall-ruleset-load-cmd-run", "firewall-ruleset-present-cmd-run"):
        name = next(a["name"] for a in hs[state_id]["cmd"] if isinstance(a, dict) and "name" in a)
        assert name == f"/usr/local/sbin/lostops-firewall-load {CONFIG}", name
    _in_ns(ns, jit.host_script("open", "192.0.2.80", ttl="30m"))
    _in_ns(ns, jit.host_script("open", "192.0.2.81", ttl="2s"))
    out = _in_ns(ns, f"{loader} {conf}").stdout
    assert "jit_ssh kept: 192.0.2.80 timeout" in out, out
    kept = {e["elem"]["val"]: e["elem"] for e in _elements(ns)}
    assert set(kept) == {"192.0.2.80", "192.0.2.81"}, kept
    assert 1700 < kept["192.0.2.80"]["expires"] <= 1800, "the time left, not a fresh 30 minutes"
    assert kept["192.0.2.81"]["timeout"] <= 2
    # the rule that uses the set is the new ruleset's (loaded, not merged)
    assert "ip saddr @jit_ssh tcp dport 22 accept" in _in_ns(ns, "nft list chain inet lostops input").stdout
    # an element that expired meanwhile is simply gone; an empty set loads plainly
    _wait_expired(ns, "192.0.2.81")
    _in_ns(ns, jit.host_script("close", "192.0.2.80"))
    out = _in_ns(ns, f"{loader} {conf}").stdout
    assert out.strip() == f"lostops-firewall-load: {conf} loaded" and _elements(ns) == []
