"""GPU planning and the catalog. There is no GPU on this machine: the GPU cases inject a
`GpuInfo` describing one (the only mock here, for hardware that cannot exist)."""

from __future__ import annotations

import json

import pytest

from neurocache.errors import InvalidInput
from neurocache.llm.catalog import SHIPPED_CATALOG, load_catalog
from neurocache.llm.gpu import GpuInfo, LayerPlacement, detect_gpu
from neurocache.llm.manager import ModelManager
from neurocache.llm.records import Placement
from neurocache.settings import Settings
from neurocache.store import Database


def test_no_gpu_means_cpu_and_says_so():
    plan = GpuInfo(None, None, build_can_offload=False).plan(-1)
    assert plan == {"device": "cpu", "gpu_layers": 0, "note": "no GPU found: running on the CPU"}


def test_a_gpu_with_a_capable_build_gets_every_layer():
    plan = GpuInfo("cuda", "NVIDIA H200", build_can_offload=True).plan(-1)
    assert (plan["device"], plan["gpu_layers"]) == ("cuda", 999)
    assert GpuInfo("cuda", "NVIDIA H200", True).plan(20)["gpu_layers"] == 20


def test_a_gpu_without_a_capable_build_falls_back_loudly():
    plan = GpuInfo("rocm", "AMD GPU", build_can_offload=False).plan(-1)
    assert plan["device"] == "cpu" and plan["gpu_layers"] == 0
    assert "AMD GPU found, but this build of llama.cpp has no rocm support" in plan["note"]
    assert "hub-rocm" in plan["note"]


def test_offload_can_be_switched_off():
    plan = GpuInfo("cuda", "NVIDIA", True).plan(0)
    assert plan["device"] == "cpu" and "off" in plan["note"]


def test_layer_placement_is_read_from_llama_cpp_log():
    placement = LayerPlacement()
    for line in [
        "load_tensors: layer   0 assigned to device CUDA0, is_swa = 0",
        "load_tensors: layer   1 assigned to device CPU, is_swa = 0",
        "other",
    ]:
        placement.feed(line)
    assert placement.summary() == Placement(layers=2, layers_on_gpu=1)
    assert LayerPlacement().summary() is None


def test_detection_on_this_machine_finds_no_gpu():
    info = detect_gpu()
    assert info.kind is None and info.build_can_offload is False


def test_manager_reports_the_plan_of_an_injected_gpu(tmp_path):
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.effective_database_url)
    db.migrate()
    manager = ModelManager(
        settings, db, lambda *a: None, gpu=GpuInfo("cuda", "NVIDIA H200", build_can_offload=True)
    )
    from neurocache.store.tables import Model

    row = Model(
        id="m",
        name="m",
        role="chat",
        format="gguf",
        source="local",
        path=str(tmp_path / "m.gguf"),
        state="installed",
        verified=False,
        meta={},
    )
    process = manager._new_process(row)
    assert process.gpu_plan["device"] == "cuda" and process.gpu_plan["gpu_layers"] == 999
    assert "--n-gpu-layers" in (command := process.command_for_port(1234))
    assert command[command.index("--n-gpu-layers") + 1] == "999"
    db.close()


def test_the_shipped_catalog_is_complete():
    entries = load_catalog()
    assert {e.role for e in entries.values()} == {"chat", "embedding", "rerank"}
    assert {e.format for e in entries.values()} == {"gguf", "llamafile"}
    for entry in entries.values():
        assert entry.url.startswith("https://") and entry.license and entry.size > 0
        assert entry.file_name.endswith((".gguf", ".llamafile"))
    assert sum(e.recommended for e in entries.values()) == 1
    raw = json.loads(SHIPPED_CATALOG.read_text())
    assert "trust on first use" in raw["note"]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"version": 1, "models": [{"id": "x"}]}',
        '{"version": 1, "models": [{"id": "a b", "name": "n", "role": "chat", "format": "gguf", '
        '"url": "https://x/a.gguf", "size": 1, "license": "MIT"}]}',
    ],
)
def test_a_broken_catalog_is_a_clear_error(tmp_path, content):
    path = tmp_path / "catalog.json"
    path.write_text(content)
    with pytest.raises(InvalidInput, match="cannot be used"):
        load_catalog(path)


def test_the_catalog_setting_replaces_the_shipped_one(tmp_path, runner):
    from neurocache.cli.main import main

    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "models": [
                    {
                        "id": "only",
                        "name": "Only",
                        "role": "embedding",
                        "format": "gguf",
                        "url": "https://example.invalid/only.gguf",
                        "size": 10,
                        "license": "MIT",
                    }
                ],
            }
        )
    )
    result = runner.invoke(
        main, ["models", "list", "--data-dir", str(tmp_path / "d"), "--catalog-path", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "only" in result.output and "llama" not in result.output.lower()
