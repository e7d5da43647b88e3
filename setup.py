"""Builds spinn_dnn._emulator, the C emulator with the core programs in it (metadata: setup.cfg).

The core programs in c_src/programs/ are compiled for the host with the
emulator's implementation of the spin1 API.  Float arithmetic must round as
the ARM build does (IEEE float32, each operation rounded on its own): no fused
multiply-add contraction, no fast-math.
"""

from pathlib import Path

from setuptools import Extension, setup

C_SRC = Path("c_src")
SOURCES = sorted(str(p) for p in (C_SRC / "emulator").glob("*.c")) + sorted(
    str(p) for p in (C_SRC / "programs").glob("*.c"))
HEADERS = sorted(str(p) for p in C_SRC.rglob("*.h"))

emulator = Extension(
    "spinn_dnn._emulator",
    sources=SOURCES,
    depends=HEADERS,
    include_dirs=[str(C_SRC / "include"), str(C_SRC / "emulator")],
    define_macros=[("SPINN_HOST", "1")],
    libraries=["m"],  # expf, tanhf in the activations
    extra_compile_args=["-std=c11", "-O2", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing",
                        "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-fvisibility=hidden", "-flto=auto"],
    extra_link_args=["-flto=auto", "-O2"],
)

setup(ext_modules=[emulator])
