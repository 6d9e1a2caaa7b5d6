"""salt-ssh ships only the files a state names to the host.

Templates rendered ON the host (file.managed with `template: jinja`) that
import shared macros or read another formula's parameters
(`load_map('<formula>')`, salt/lib/map.jinja) fail there unless those
directories are listed in `extra_filerefs` (etc/salt/master). The first
converge of the end-to-end tier is where a missing entry used to show up; this
test finds it without a host.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SALT = REPO / "salt"


def _filerefs() -> set[str]:
    master = yaml.safe_load((REPO / "etc" / "salt" / "master").read_text())
    return {ref.rstrip("/") for ref in master.get("extra_filerefs", [])}


def _covered(ref: str, refs: set[str]) -> bool:
    parts = ref.split("/")
    return any("/".join(parts[:n]) in refs for n in range(3, len(parts) + 1))


def test_every_formula_a_host_side_template_loads_is_shipped():
    refs = _filerefs()
    missing = []
    for template in sorted(SALT.rglob("*")):
        if not template.is_file() or "files" not in template.relative_to(SALT).parts:
            continue
        text = template.read_text(errors="replace")
        for formula in set(re.findall(r"load_map\(\s*'([a-z_]+)'", text)):
            ref = f"salt://{formula}/parameters"
            if not _covered(ref, refs):
                missing.append(f"{template.relative_to(REPO)} loads {formula}: add {ref}")
        if re.search(r"from\s+'lib/", text) and not _covered("salt://lib", refs):
            missing.append(f"{template.relative_to(REPO)} imports salt://lib")
    assert not missing, "extra_filerefs in etc/salt/master is missing:\n" + "\n".join(missing)


def test_listed_filerefs_exist():
    for ref in _filerefs():
        assert (SALT / ref.removeprefix("salt://")).exists(), f"{ref} does not exist under salt/"
