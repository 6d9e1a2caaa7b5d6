"""salt-ssh wipes its thin directory on the host after every run (etc/salt/master `ssh_wipe`).

Salt's own command-line parser reads the repository's configuration the way
`salt-ssh` run from the repository root does (Saltfile: config_dir etc/salt);
the lab proves the effect (tests/e2e/test_16_nothing_left_behind.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_the_saltfile_points_at_the_config_that_wipes():
    saltfile = yaml.safe_load((REPO / "Saltfile").read_text())
    assert saltfile["salt-ssh"]["config_dir"] == "etc/salt"
    assert yaml.safe_load((REPO / "etc/salt/master").read_text())["ssh_wipe"] is True


def test_salt_ssh_parses_ssh_wipe_from_the_repository_config(monkeypatch):
    from salt.utils.parsers import SaltSSHOptionParser

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["salt-ssh", "-c", "etc/salt", "*", "test.ping"])
    parser = SaltSSHOptionParser()
    parser.parse_args()
    assert parser.config["ssh_wipe"] is True
    # Single (salt/client/ssh/__init__.py) reads opts["ssh_wipe"] into the shim's OPTIONS.wipe.
