"""The off-host restore runbook of docs/mysql.md as the tests run it: its blocks, with the lab's values.

tests/e2e/test_14_disaster_recovery.py runs them against the lab (and the
new database host); tests/unit/test_backup_script.py against Azurite with a
stand-in for the SSH to the host.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "mysql.md"
MARKER = "<!-- restore-offsite:"


def runbook_blocks() -> tuple[str, str]:
    text = DOC.read_text()
    i = text.index(MARKER)
    blocks = re.findall(r"```sh\n(.*?)```", text[i:], re.S)
    assert len(blocks) >= 2, f"{DOC}: no download/restore blocks after {MARKER}"
    return blocks[0], blocks[1]


def with_lab_values(block: str, values: dict[str, str]) -> str:
    """The runbook block with the lab's values for its documented variables (each assignment line replaced)."""
    out = []
    for line in block.splitlines():
        m = re.match(r"^([A-Z_]+)=", line)
        if m and m.group(1) in values:
            line = f"{m.group(1)}={shlex.quote(values[m.group(1)])}"
        out.append(line)
    missing = set(values) - {re.match(r"^([A-Z_]+)=", x).group(1) for x in out if re.match(r"^([A-Z_]+)=", x)}
    assert not missing, f"the runbook no longer sets {missing}"
    return "\n".join(out) + "\n"
