"""Compose's merge of an override file over compose.yaml, for the tests.

The lab replaces the command and health check of the two stand-ins (Grafana,
cAdvisor) through a formula's `compose_override` pillar, which Salt writes to
compose.override.yaml next to the production compose.yaml
(salt/lib/compose.jinja). Tests that look at "what runs in the lab" read the
two files merged the way `docker compose -f compose.yaml -f
compose.override.yaml` does (the Compose Specification's merge rules):
mappings merge key by key; `command`, `entrypoint` and a health check's `test`
are replaced; other sequences (ports, volumes, extra_hosts, ...) are appended
without duplicates.
"""

from __future__ import annotations

import copy

REPLACED = {"command", "entrypoint", "test"}


def merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list) and key not in REPLACED:
            out[key] = out[key] + [v for v in value if v not in out[key]]
        else:
            out[key] = copy.deepcopy(value)
    return out
