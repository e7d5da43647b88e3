"""The emulator's fast paths give exactly what their plain versions give.

C drivers check, against a linear search each: the event queue (timing
wheels and a heap, tests/c/event_queue_order.c) pops in (time, seq) order
over random pushes (router-hop distances, long callbacks' sends, ties, times
beyond the far wheel and behind the last pop, a filter); the routing-table
index (tests/c/route_index_first_match.c) finds the first matching entry of
random tables with overlapping entries of several masks; a link's bookings
(tests/c/link_schedule_gaps.c) give each copy the first gap long enough for it,
in or out of the order copies are ready, and first come first served when
they come in order (the single "link free at" time the router used before it
timed whole trees).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_and_run(tmp_path, driver: str, unit: str) -> int:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not on PATH")
    exe = tmp_path / driver
    emulator = ROOT / "c_src" / "emulator"
    build = subprocess.run(
        ["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{emulator}",
         str(ROOT / "tests" / "c" / f"{driver}.c"), str(emulator / unit), "-o", str(exe)],
        capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("ok "), run.stdout + run.stderr
    return int(run.stdout.split()[1])


def test_queue_pops_in_time_then_push_order(tmp_path):
    assert _build_and_run(tmp_path, "event_queue_order", "event_queue.c") > 50000  # it popped a lot


def test_route_index_finds_the_first_matching_entry(tmp_path):
    assert _build_and_run(tmp_path, "route_index_first_match", "route_index.c") == 300 * 2000


def test_link_bookings_give_the_first_free_gap_and_serve_in_order_requests_in_order(tmp_path):
    assert _build_and_run(tmp_path, "link_schedule_gaps", "link_schedule.c") > 100000
