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


# Execution modules called while salt-ssh renders the SLS files locally that
# must run on the host, with the reason: each is one more remote salt call.
REMOTE_ON_PURPOSE = {
    "file.file_exists": "salt/app/_settings.jinja: the version deployed on the backend (no app:version given)",
    "file.read": "salt/app/_settings.jinja: the version deployed on the backend (no app:version given)",
}


def _ssh_wrapper_modules() -> set[str]:
    import salt.client.ssh.wrapper as wrappers

    names = set()
    for py in Path(wrappers.__file__).parent.glob("*.py"):
        virtual = re.search(r'^__virtualname__\s*=\s*"([a-z_0-9]+)"', py.read_text(), re.M)
        names.add(virtual.group(1) if virtual else py.stem)
    return names


def test_sls_rendering_calls_no_remote_module_by_accident():
    """salt-ssh renders SLS files (and what they import) locally: `salt['mod.fun']` runs there only when
    salt-ssh has a wrapper for `mod`; any other module is a whole remote salt call on the host per use."""
    local = _ssh_wrapper_modules()
    assert {"pillar", "grains", "slsutil", "cp", "config"} <= local
    found = []
    for path in sorted(SALT.rglob("*")):
        if not path.is_file() or path.suffix not in (".sls", ".jinja") or "files" in path.relative_to(SALT).parts:
            continue
        for fun in re.findall(r"salt\[\s*['\"]([a-z_0-9]+\.[a-z_0-9]+)['\"]\s*\]", path.read_text()):
            if fun.split(".")[0] not in local and fun not in REMOTE_ON_PURPOSE:
                found.append(f"{path.relative_to(REPO)}: salt['{fun}']")
    assert not found, "remote calls while rendering (use Jinja, or add them to REMOTE_ON_PURPOSE):\n" + "\n".join(found)
