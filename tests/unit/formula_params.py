"""A formula's parameters as files say them, for tests that compare with a render.

``defaults(formula)``: salt/<formula>/parameters/defaults.yaml;
``committed(formula)``: the committed production pillar pillar/<formula>.sls
(its top-level key);
``production(formula)``: both merged the way salt/lib/map.jinja merges them
(mappings recursively, everything else replaced), without the OS layers.
The real merge, per host and inventory, is snapshotted by test_salt_mapdata.py.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def defaults(formula: str) -> dict:
    return yaml.safe_load((REPO / "salt" / formula / "parameters" / "defaults.yaml").read_text()) or {}


def committed(formula: str) -> dict:
    path = REPO / "pillar" / f"{formula}.sls"
    return ((yaml.safe_load(path.read_text()) or {}).get(formula) or {}) if path.exists() else {}


def production(formula: str) -> dict:
    return merge(defaults(formula), committed(formula))
