"""c_src/Makefile: the programs build for the ARM968 within ITCM and keep no static state on the host."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

C_SRC = Path(__file__).resolve().parents[1] / "c_src"
PROGRAMS = sorted(p.stem for p in (C_SRC / "programs").glob("*.c"))


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not on PATH "
                    "(Debian: apt-get install gcc-arm-none-eabi make binutils)")


def _make(src: Path, target: str, build: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(src), target, f"BUILD={build}"], capture_output=True,
                          text=True, timeout=300)


def test_every_program_compiles_for_arm968_within_itcm(tmp_path):
    _need("make", "arm-none-eabi-gcc", "arm-none-eabi-size")
    proc = _make(C_SRC, "arm", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in PROGRAMS:
        obj = tmp_path / "arm" / f"{name}.o"
        assert obj.exists()
        line = next(x for x in proc.stdout.splitlines() if f"/{name}.o " in x)
        assert int(line.split()[2]) <= 32768
        # really an ARM object, soft float
        head = subprocess.run(["arm-none-eabi-readelf", "-h", "-A", str(obj)], capture_output=True,
                              text=True).stdout
        assert "ARM" in head and "VFP" not in head


def test_itcm_check_fails_a_program_too_big(tmp_path):
    _need("make", "arm-none-eabi-gcc", "arm-none-eabi-size")
    src = tmp_path / "c_src"
    shutil.copytree(C_SRC, src, ignore=shutil.ignore_patterns("build"))
    values = ", ".join(f"{(i * 2654435761) % 4294967291}u" for i in range(9000))
    (src / "programs" / "too_big.c").write_text(
        '#include "spinn_program.h"\n'
        f"static const uint table[9000] = {{{values}}};\n"  # 36,000 bytes of read-only data: ITCM on a board
        "typedef struct { uint i; } big_t;\n"
        "static void on(uint key, uint d) { spin1_send_mc_packet(table[key % 9000], d, 0); }\n"
        "static void big_main(void) { spin1_callback_on(MC_PACKET_RECEIVED, on, -1); }\n"
        "SPINN_PROGRAM(too_big, big_t, big_main);\n")
    proc = _make(src, "arm", tmp_path / "build")
    assert proc.returncode != 0 and "too_big.o has" in proc.stdout and "over 32768" in proc.stdout


def test_programs_keep_no_mutable_static_state(tmp_path):
    _need("make", "gcc", "size")
    proc = _make(C_SRC, "host-check", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("has no mutable static state") == len(PROGRAMS)
    # and the check catches a program that has some
    src = tmp_path / "c_src"
    shutil.copytree(C_SRC, src, ignore=shutil.ignore_patterns("build"))
    (src / "programs" / "counts_globally.c").write_text(
        '#include "spinn_program.h"\n'
        "static uint counter;\n"
        "typedef struct { uint unused; } st_t;\n"
        "static void main_fn(void) { counter++; }\n"
        "SPINN_PROGRAM(counts_globally, st_t, main_fn);\n")
    proc = _make(src, "host-check", tmp_path / "build2")
    assert proc.returncode != 0 and "counts_globally.o has 4 bytes of mutable static data" in proc.stdout
