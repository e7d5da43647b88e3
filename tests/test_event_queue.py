"""The emulator's event queue (timing wheels and a heap) pops in exactly (time, seq) order.

A C driver (tests/c/event_queue_order.c) checks it against a plain linear
search over random pushes: router-hop distances, long callbacks' sends, ties,
times beyond the far wheel and behind the last pop, and a filter.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_queue_pops_in_time_then_push_order(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not on PATH")
    exe = tmp_path / "event_queue_order"
    emulator = ROOT / "c_src" / "emulator"
    build = subprocess.run(
        ["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{emulator}",
         str(ROOT / "tests" / "c" / "event_queue_order.c"), str(emulator / "event_queue.c"),
         "-o", str(exe)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("ok "), run.stdout + run.stderr
    assert int(run.stdout.split()[1]) > 50000  # it really popped a lot
