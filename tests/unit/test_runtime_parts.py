"""The one owner of background work (runtime/parts.py): parts start in order and stop in
the reverse order, each stop guarded, once."""

from __future__ import annotations

import logging

from neurocache.runtime.parts import Runtime


def test_parts_start_in_order_and_stop_last_first_even_when_one_fails(caplog):
    runtime, seen = Runtime(), []

    def broken() -> None:
        seen.append("stop b")
        raise RuntimeError("stuck")

    runtime.add("a", start=lambda: seen.append("start a"), stop=lambda: seen.append("stop a"))
    runtime.add("b", stop=broken)  # runs from when it is built: nothing to start
    runtime.add("c", start=lambda: seen.append("start c"), stop=lambda: seen.append("stop c"))
    runtime.start()
    with caplog.at_level(logging.ERROR, logger="neurocache.runtime"):
        runtime.stop()
        runtime.stop()  # twice is once
    assert seen == ["start a", "start c", "stop c", "stop b", "stop a"]
    assert runtime.names == ["a", "b", "c"]
    assert "stopping b failed" in caplog.text
