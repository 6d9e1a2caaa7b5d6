"""make bench-scale's results: one size measured again keeps the others, and every row says when (tests/e2e/bench_scale.py)."""

from __future__ import annotations

import json
import os

from tests.e2e import bench_scale


def _result(hosts: int, **extra) -> dict:
    return {
        "hosts": hosts, "ok": True, "converge_s": 70.0 + hosts, "reapply_s": [5.0, 4.9], "reapply_all_at_once_s": 5.1,
        "reapply_changes": 0, "ssh_connections": [8, 4], "host_peak_mib": 1000 * hosts, "host_anon_mib": 300 * hosts,
        "salt_ssh_peak_rss_mib": 72, "load": 2.0, **extra,
    }  # fmt: skip


def test_the_sizes_not_measured_again_are_kept_with_their_time(tmp_path, monkeypatch):
    results = tmp_path / ".lab-scale.json"
    results.write_text(json.dumps([_result(3), _result(6, measured_at="2026-12-04 23:30 UTC"), _result(9)]))
    os.utime(results, (1_796_342_400, 1_796_342_400))  # 2026-12-04 00:00 UTC
    monkeypatch.setattr(bench_scale, "RESULTS", results)
    kept = bench_scale.kept_results([3])
    assert [r["hosts"] for r in kept] == [6, 9]
    assert [r["measured_at"] for r in kept] == ["2026-12-04 23:30 UTC", "2026-12-04 00:00 UTC"]
    rows = dict(bench_scale.rows(kept))
    assert rows["6 hosts"].endswith("(measured 2026-12-04 23:30 UTC)")
    assert "first converge 76.0 s" in rows["6 hosts"] and "FAILED" not in rows["6 hosts"]


def test_nothing_is_kept_without_a_readable_results_file(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_scale, "RESULTS", tmp_path / "missing.json")
    assert bench_scale.kept_results([3]) == []
    (tmp_path / "bad.json").write_text("{not json")
    monkeypatch.setattr(bench_scale, "RESULTS", tmp_path / "bad.json")
    assert bench_scale.kept_results([3]) == []
