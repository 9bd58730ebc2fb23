"""The segment benchmark runs end to end at a tiny size: every changed or due customer
is entered once, and the raw scan finds the same segment (the figures are its own)."""

from __future__ import annotations

from pathlib import Path

from bench.segments import build, run_changes, run_scan, run_sweep


def test_the_segment_bench_enters_every_changed_and_due_customer_once(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    build(store, 600, 12)
    assert run_scan(store)[1] == 12  # the due ones; the changed ones are not in it yet
    assert run_changes(store, 12)[1] == 12
    assert run_sweep(store)[1] == 12
    assert run_sweep(store)[1] == 0  # swept already: nothing twice
