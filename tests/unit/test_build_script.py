"""build_scripts/build.py: what it names its output, and which environments it refuses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from build_scripts.build import DIST, binary_name, output_of, variant_problem


@pytest.mark.parametrize(
    ("platform", "name"),
    [
        ("linux", "neurocache-hub-linux-cuda"),
        ("darwin", "neurocache-hub-macos-cuda"),
        ("win32", "neurocache-hub-windows-cuda"),
    ],
)
def test_names_the_binary_after_its_os_and_variant(platform, name):
    assert binary_name("cuda", platform) == name


def test_onefile_is_a_file_and_onedir_a_folder_holding_the_executable():
    assert output_of("hub", onefile=True, platform="linux") == (DIST / "hub", DIST / "hub")
    assert output_of("hub", onefile=True, platform="win32")[1] == DIST / "hub.exe"
    folder, executable = output_of("hub", onefile=False, platform="win32")
    assert folder == DIST / "hub-onedir" and executable == folder / "hub.exe"


def test_a_variant_needs_its_own_llama_cpp_build():
    assert variant_problem("cpu", set(), False, "linux") is None
    assert variant_problem("cpu", set(), True, "darwin") is None  # Metal is the CPU build's
    assert variant_problem("cuda", {"cuda"}, True, "linux") is None
    assert variant_problem("cuda", {"cuda"}, None, "win32") is None  # no driver on the builder
    assert variant_problem("rocm", {"rocm"}, True, "linux") is None
    assert "built with cuda" in variant_problem("cpu", {"cuda"}, True, "linux")
    assert "needs llama-cpp-python built for it (found: the CPU only)" in variant_problem(
        "cuda", set(), False, "linux"
    )
    assert "found: cuda" in variant_problem("rocm", {"cuda"}, True, "linux")
    assert "reports no GPU offload" in variant_problem("cuda", {"cuda"}, False, "linux")
    assert "no cuda binary for macOS" in variant_problem("cuda", {"cuda"}, True, "darwin")


def test_the_hub_imports_without_the_postgresql_drivers_the_binary_leaves_out():
    """The binary has no psycopg (neurocache.spec's excludes): nothing the hub imports
    at start may need it (a PostgreSQL backup once imported it at module level, and the
    binary failed to start)."""
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in DRIVERS)
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; {blocked}; import neurocache.cli.main, neurocache.app",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr[-2000:]


DRIVERS = ("psycopg", "psycopg_binary", "psycopg2")
