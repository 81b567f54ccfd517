"""How every reply a model writes ends (a conversation's, an agent's in a channel): however
the writing went, the reply is stored finished (complete, stopped, or failed with the
reason) and never left `streaming`, so nobody waits on a reply that will not come."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from neurocache.errors import NeurocacheError

log = logging.getLogger("neurocache.chat")
NOT_STORED_WHOLE = "the reply could not be stored whole"
R = TypeVar("R")  # a reply as stored


def ending(write: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
    """The fields a reply ends with: those `write()` returns (it streams the reply and says
    how that went), or `failed` with the reason when it raised: a hub error's own message;
    any other error is logged and named by its type."""
    try:
        return write()
    except NeurocacheError as exc:
        return {"status": "failed", "error": exc.message}
    except Exception as exc:  # the reply must end, whatever happened
        log.exception("%s failed", what)
        return {"status": "failed", "error": f"internal error: {type(exc).__name__}"}


def stored_end(
    finish: Callable[..., R],
    reply_id: str,
    text: str,
    fields: dict[str, Any],
    *,
    gone: tuple[type[Exception], ...],
) -> R | None:
    """`finish(reply_id, text, **fields)`, the reply as stored; None when it was deleted
    while it was written (`gone`). When it cannot be stored whole it is stored as failed."""
    try:
        return finish(reply_id, text, **fields)
    except gone:
        return None
    except Exception:
        log.exception("storing reply %s failed", reply_id)
        return stored_failed(finish, reply_id, text)


def stored_failed(finish: Callable[..., R], reply_id: str, text: str) -> R | None:
    """The reply stored as failed (what was written kept); if even that fails (None), the
    start after will (replies left `streaming` are failed then)."""
    try:
        return finish(reply_id, text, status="failed", error=NOT_STORED_WHOLE)
    except Exception:
        log.exception("reply %s stays unfinished until the next start", reply_id)
        return None
