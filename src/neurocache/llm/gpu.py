"""Which GPU this machine has, whether this build of llama.cpp can use it, and so what a
model server is told (GPU layers) and what the hub says about it: a fallback to the CPU
is always reported, never silent."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from neurocache.llm.records import Placement

LAYER_DEVICE = re.compile(r"layer\s+(\d+) assigned to device (\S+?),")


class GpuPlan(TypedDict):
    device: str  # "cpu", or the GPU's kind
    gpu_layers: int
    note: str


@dataclass(frozen=True)
class GpuInfo:
    kind: str | None  # "cuda" | "rocm" | "metal" | None
    name: str | None
    build_can_offload: bool

    def plan(self, requested_layers: int) -> GpuPlan:
        """GPU layers to ask for, and what to tell the user about it."""
        if requested_layers == 0:
            return {"device": "cpu", "gpu_layers": 0, "note": "GPU offload is off (gpu_layers=0)"}
        if self.kind is None:
            return {"device": "cpu", "gpu_layers": 0, "note": "no GPU found: running on the CPU"}
        if not self.build_can_offload:
            return {
                "device": "cpu",
                "gpu_layers": 0,
                "note": f"{self.name or self.kind} found, but this build of llama.cpp has no "
                f"{self.kind} support: running on the CPU (install the hub-{self.kind} "
                "variant to use the GPU)",
            }
        layers = 999 if requested_layers < 0 else requested_layers
        return {
            "device": self.kind,
            "gpu_layers": layers,
            "note": f"offloading to {self.name or self.kind}",
        }


def build_can_offload() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except (ImportError, AttributeError, OSError):
        return False


def detect_gpu() -> GpuInfo:
    can_offload = build_can_offload()
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return GpuInfo("metal", "Apple GPU", can_offload)
    if name := _nvidia_name():
        return GpuInfo("cuda", name, can_offload)
    if Path("/dev/kfd").exists():
        return GpuInfo("rocm", "AMD GPU", can_offload)
    return GpuInfo(None, None, can_offload)


def _nvidia_name() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "NVIDIA GPU" if Path("/proc/driver/nvidia/version").exists() else None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


class LayerPlacement:
    """Where llama.cpp put each layer, read from its log: what really happened, which the
    hub reports next to what it asked for."""

    def __init__(self) -> None:
        self.devices: dict[int, str] = {}
        self._lock = threading.Lock()  # fed by the output thread, read by requests

    def feed(self, line: str) -> None:
        match = LAYER_DEVICE.search(line)
        if match:
            with self._lock:
                self.devices[int(match.group(1))] = match.group(2)

    def summary(self) -> Placement | None:
        with self._lock:
            devices = list(self.devices.values())
        if not devices:
            return None
        on_gpu = sum(1 for device in devices if not device.startswith("CPU"))
        return Placement(layers=len(devices), layers_on_gpu=on_gpu)
