"""Builds the one compiled part of VMB: the vendored TinySoundFont bindings.

Everything else about the package is in pyproject.toml; an extension module cannot be declared
there without an "experimental" warning, hence this file. The source is the ``tinysoundfont``
0.3.7 sdist's, unchanged (vmb_agent/rendering/_tinysoundfont-src/README.md says why it is
vendored). Compiled with setuptools' usual flags (-O3, no -ffast-math), so renders match the
PyPI wheel's bit for bit.
"""

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

SOURCE = "vmb_agent/rendering/_tinysoundfont-src"

setup(
    ext_modules=[
        Pybind11Extension(
            "vmb_agent.rendering._tinysoundfont",
            [f"{SOURCE}/main.cpp"],
            # main.cpp #includes these; listing them rebuilds the module when they change
            depends=[f"{SOURCE}/tsf/tsf.h", f"{SOURCE}/tsf/tml.h", f"{SOURCE}/stb/stb_vorbis.c"],
            cxx_std=14,  # what the upstream CMake build uses
            # Upstream code we do not edit: its two harmless -Wall findings would only be noise
            # in every install log. (-w changes no generated code.)
            extra_compile_args=["-w"],
        )
    ],
)
