"""Build the hub binary with PyInstaller, for this OS (PyInstaller does not cross-compile).

    python build_scripts/build.py --variant cpu|cuda|rocm [--onefile | --onedir]

Output, in dist/ (os: linux, macos or windows):
- onefile: `dist/neurocache-hub-<os>-<variant>` (`.exe` on Windows), one file;
- onedir (the default): `dist/neurocache-hub-<os>-<variant>-onedir/`, a folder whose
  executable is `neurocache-hub-<os>-<variant>`: it starts faster (nothing to unpack).

The build environment decides what the binary can do, so it is checked first: the
embedder GGUF (built by `make`), PyInstaller (requirements/hub-builder.txt), and a
llama-cpp-python built for the variant asked (CUDA for cuda, HIP for rocm, neither for cpu;
see requirements/README.md). A mismatch is refused, never built.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "build_scripts" / "neurocache.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
PACKAGE = ROOT / "src" / "neurocache"
EMBEDDER = PACKAGE / "llm" / "builtin" / "all-minilm-l6-v2-f16.gguf"
VARIANTS = ("cpu", "cuda", "rocm")
OS_NAMES = {"linux": "linux", "darwin": "macos", "win32": "windows"}
# requirements file each variant's build environment installs (plus PyInstaller's pins
# from hub-builder.txt for the GPU ones), and the CMAKE_ARGS its llama-cpp-python needs
REQUIREMENTS = {
    "cpu": "requirements/hub-builder.txt",
    "cuda": 'CMAKE_ARGS="-DGGML_CUDA=on" pip install --no-binary llama-cpp-python '
    "-r requirements/hub-cuda.txt",
    "rocm": 'CMAKE_ARGS="-DGGML_HIP=on -DAMDGPU_TARGETS=..." pip install --no-binary '
    "llama-cpp-python -r requirements/hub-rocm.txt",
}
# ggml's GPU backends, by the name of their library in llama_cpp/lib
GPU_BACKENDS = {"cuda": "ggml-cuda", "rocm": "ggml-hip"}


def os_name(platform: str = sys.platform) -> str:
    for prefix, name in OS_NAMES.items():
        if platform.startswith(prefix):
            return name
    raise SystemExit(f"no binary for {platform}: Linux, macOS and Windows only")


def binary_name(variant: str, platform: str = sys.platform) -> str:
    return f"neurocache-hub-{os_name(platform)}-{variant}"


def output_of(name: str, onefile: bool, platform: str = sys.platform) -> tuple[Path, Path]:
    """(what the build makes, the executable in it)."""
    exe = name + (".exe" if platform == "win32" else "")
    if onefile:
        return DIST / exe, DIST / exe
    return DIST / f"{name}-onedir", DIST / f"{name}-onedir" / exe


def llama_backends(lib_dir: Path) -> set[str]:
    """The GPU variants whose ggml backend library is in llama_cpp's lib folder."""
    names = {path.name for path in lib_dir.iterdir()} if lib_dir.is_dir() else set()
    return {
        variant
        for variant, library in GPU_BACKENDS.items()
        if any(library in name for name in names)
    }


def gpu_offload() -> bool | None:
    """llama_cpp.llama_supports_gpu_offload(), asked in a child process (loading a CUDA or
    HIP build needs the GPU runtime, which a builder may lack): None if it cannot load."""
    probe = "import llama_cpp; print(llama_cpp.llama_supports_gpu_offload())"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip().endswith("True")


def variant_problem(
    variant: str, backends: set[str], offload: bool | None, platform: str = sys.platform
) -> str | None:
    """Why this llama-cpp-python cannot make a `variant` binary, or None if it can."""
    fix = (
        f"Install the {variant} build environment: {REQUIREMENTS[variant]} "
        "(plus pyinstaller, pinned in requirements/hub-builder.txt)"
    )
    if variant != "cpu" and platform == "darwin":
        return f"no {variant} binary for macOS: the cpu variant uses Metal there"
    if variant == "cpu":
        if backends:
            return (
                f"llama-cpp-python here is built with {', '.join(sorted(backends))}: a cpu "
                f"binary would need that GPU runtime. {fix}"
            )
        return None
    if variant not in backends:
        built = ", ".join(sorted(backends)) or "the CPU only"
        return f"the {variant} variant needs llama-cpp-python built for it (found: {built}). {fix}"
    if offload is False:
        return (
            f"llama-cpp-python has a {variant} backend library but reports no GPU "
            f"offload (llama_supports_gpu_offload() is False). {fix}"
        )
    return None


def environment_problems(variant: str) -> list[str]:
    problems = []
    if importlib.util.find_spec("PyInstaller") is None:
        problems.append("PyInstaller is missing: pip install -r requirements/hub-builder.txt")
    if not EMBEDDER.is_file():
        problems.append(
            f"the built-in embedder {EMBEDDER.relative_to(ROOT)} is missing: "
            "run `make` (build_scripts/convert_minilm.py) first"
        )
    if not (PACKAGE / "client" / "browser" / "index.html").is_file():
        problems.append("src/neurocache/client/browser/index.html is missing")
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        problems.append(f"llama-cpp-python is missing: {REQUIREMENTS[variant]}")
        return problems
    backends = llama_backends(Path(spec.origin).parent / "lib")
    problem = variant_problem(variant, backends, gpu_offload())
    if problem:
        problems.append(problem)
    return problems


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=VARIANTS, default="cpu")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--onefile", action="store_true", help="one self-unpacking file")
    mode.add_argument("--onedir", action="store_true", help="a folder (the default)")
    args = parser.parse_args(argv)

    problems = environment_problems(args.variant)
    if problems:
        for problem in problems:
            print(f"build.py: {problem}", file=sys.stderr)
        return 2
    name = binary_name(args.variant)
    made, executable = output_of(name, args.onefile)
    mode_name = "onefile" if args.onefile else "onedir"
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(SPEC),
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(DIST),
        "--workpath",
        str(WORK / f"{name}-{mode_name}"),
        "--",
        "--name",
        name,
        *(["--onefile"] if args.onefile else []),
    ]
    print("+", " ".join(command), flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT)
    took = time.monotonic() - started
    version = subprocess.run(
        [str(executable), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if version.returncode != 0:
        print(f"build.py: the binary does not start:\n{version.stderr}", file=sys.stderr)
        return 1
    print(
        f"built {made.relative_to(ROOT)} ({mode_name}, {folder_size(made) / 2**20:.0f} MiB) "
        f"in {took:.0f} s: {version.stdout.strip()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
