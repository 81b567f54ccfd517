"""How a reply ends (replies/lifecycle.py), whatever happened while it was written or
stored: never left `streaming`."""

from __future__ import annotations

import pytest

from neurocache.errors import NotFound, Unavailable
from neurocache.replies.lifecycle import NOT_STORED_WHOLE, ending, stored_end


def test_a_reply_ends_with_what_the_writing_said_or_why_it_failed(caplog):
    assert ending(lambda: {"status": "complete", "tokens": 3}, "r") == {
        "status": "complete",
        "tokens": 3,
    }

    def no_model() -> dict:
        raise Unavailable("no chat model is running")

    assert ending(no_model, "r") == {"status": "failed", "error": "no chat model is running"}

    def broken() -> dict:
        raise KeyError("x")

    assert ending(broken, "reply 7") == {"status": "failed", "error": "internal error: KeyError"}
    assert "reply 7 failed" in caplog.text


class Store:
    def __init__(self, *failures: Exception) -> None:
        self.failures, self.calls = list(failures), []

    def finish(self, reply_id: str, text: str, **fields) -> dict:
        self.calls.append((reply_id, text, fields))
        if self.failures:
            raise self.failures.pop(0)
        return {"id": reply_id, "content": text, **fields}


def test_a_stored_reply_a_deleted_one_and_one_that_cannot_be_stored_whole():
    assert stored_end(Store().finish, "r", "hi", {"status": "complete"}, gone=(NotFound,)) == {
        "id": "r",
        "content": "hi",
        "status": "complete",
    }
    assert stored_end(Store(NotFound("gone")).finish, "r", "hi", {}, gone=(NotFound,)) is None
    store = Store(RuntimeError("disk"))
    stored = stored_end(store.finish, "r", "hi", {"status": "complete"}, gone=(NotFound,))
    assert stored == {"id": "r", "content": "hi", "status": "failed", "error": NOT_STORED_WHOLE}


@pytest.mark.parametrize("second", [RuntimeError("still"), OSError("full")])
def test_when_even_failing_it_cannot_be_stored_the_start_after_will(second):
    store = Store(RuntimeError("disk"), second)
    assert stored_end(store.finish, "r", "hi", {}, gone=(NotFound,)) is None
