"""The dashboard built from real harness runs renders in headless Chromium with every image loaded.

Real runs: `run-benchmark` in-process on the small real-MNIST workloads of
conftest (three that reach the target, two that stop short), plus synthetic
SpiNNaker runs (modeled clock and joules) on the same benchmark, since that
engine cannot run yet.  Chromium opens the page from disk with networking off;
the page's own script stamps each <img> with its naturalWidth once loaded,
and the DOM dump is read back.  Skipped, saying so, when Chromium is absent
(CI installs Debian's `chromium`).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from harness import cli as run_cli
from harness.dashboard import cli
from tests.conftest import write_config
from tests.dashboard_support import write_run

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--hide-scrollbars"]


def _chromium(*args: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def real_results(tmp_path, tiny_registry):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "easy.yaml", "tiny_easy", out)
    assert run_cli.main([str(cfg), "--runs", "3"]) == 0
    cfg = write_config(tmp_path / "short.yaml", "tiny_unreachable", out)
    assert run_cli.main([str(cfg), "--runs", "2", "--set", "recipe.max_epochs=1"]) == 0
    for i, t in enumerate([40.0, 44.0, 42.0]):
        write_run(out, "spinn5-emulated", "tiny_easy", i, target=0.5, engine="spinnaker", clock="modeled",
                  curve=[(t / 2, 0.4), (t, 0.6)], samples_per_epoch=2000,
                  energy={"joules": 3.0 * t, "source": "modeled: SpiNNaker power model", "kind": "modeled"},
                  spinnaker={"cores": 120 + i, "chips": 8, "packets_sent": 4.0e5})
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); "
                                             "CI installs it")
def test_page_renders_in_headless_chromium_with_all_images(real_results, tmp_path):
    index = cli.build_dashboard([real_results], tmp_path / "dashboard")
    page = index.read_text()
    assert "tiny_easy" in page and "tiny_unreachable" in page and "no score" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network

    dom = _chromium("--virtual-time-budget=10000", "--dump-dom", index.as_uri(), tmp_path=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    imgs = re.findall(r"<img[^>]*>", dom.stdout)
    expected = len(list((tmp_path / "dashboard" / "figures").glob("*.png")))
    assert expected >= 5 and len(imgs) == expected  # accuracy x2, time, energy, SpiNNaker
    widths = [re.search(r'data-natural-width="(\d+)"', img) for img in imgs]
    assert all(w is not None for w in widths), "the page's load script did not run"
    assert all(int(w.group(1)) > 100 for w in widths), imgs
    assert 'data-images-checked="0"' in dom.stdout

    shot = tmp_path / "dashboard.png"
    res = _chromium(f"--screenshot={shot}", "--window-size=1300,3000", index.as_uri(), tmp_path=tmp_path)
    assert res.returncode == 0 and shot.stat().st_size > 50_000, res.stderr[-2000:]
