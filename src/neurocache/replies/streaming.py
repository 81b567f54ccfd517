"""Small pieces shared by everything that has a model write: streaming a reply, and
running work for one key (a channel) in order while other keys run in parallel."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from typing import Any

from neurocache.errors import Unavailable
from neurocache.llm.backend import ChatBackend
from neurocache.metering.usage import carrying_scope

log = logging.getLogger("neurocache.chat")
SAVE_EVERY_S = 2.0


def stream_reply(
    backend: ChatBackend,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    temperature: float,
    on_delta: Callable[[str], None] = lambda _d: None,
    save: Callable[[str], None] = lambda _t: None,
    stop: threading.Event | None = None,
    prompt_tokens: int | None = None,
) -> tuple[str, int]:
    """The reply's text and its token count; `save` gets the text so far every couple of
    seconds (a crash keeps what was written), `stop` ends it early. The tokens both ways
    are counted for usage (`backend.count_usage`)."""
    parts: list[str] = []
    tokens: int | None = None
    saved_at = time.monotonic()
    stream = backend.client.chat_stream(
        messages, max_tokens=max_tokens, temperature=temperature, model=backend.served_name
    )
    with closing(stream):
        for chunk in stream:
            if stop is not None and stop.is_set():
                break
            choices = chunk.get("choices") or [{}]
            delta = (choices[0].get("delta") or {}).get("content") or ""
            if delta:
                parts.append(delta)
                on_delta(delta)
            if chunk.get("usage"):
                tokens = chunk["usage"].get("completion_tokens")
                prompt_tokens = chunk["usage"].get("prompt_tokens", prompt_tokens)
            if time.monotonic() - saved_at > SAVE_EVERY_S:
                save("".join(parts))
                saved_at = time.monotonic()
    tokens = tokens if tokens is not None else len(parts)
    if prompt_tokens is None:
        prompt_tokens = sum(backend.count_tokens(str(m.get("content", ""))) for m in messages)
    backend.count_usage(tokens_in=prompt_tokens, tokens_out=tokens)
    return "".join(parts), tokens


class SerialQueues:
    """Work for one key runs in order, one at a time; different keys run in parallel on
    the pool (so agents in one channel answer in turn, never over each other)."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._queues: dict[str, deque[tuple[Callable[[], Any], Future]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Work not yet started fails (whoever waits on it is told); what runs finishes."""
        with self._lock:
            self._closed = True
            waiting = [f for queue in self._queues.values() for _, f in queue]
            for queue in self._queues.values():
                queue.clear()
        for future in waiting:
            future.set_exception(Unavailable("the hub is stopping"))

    def submit(self, key: str, work: Callable[[], Any]) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                future.set_exception(Unavailable("the hub is stopping"))
                return future
            queue = self._queues.get(key)
            idle = queue is None
            if idle:
                queue = self._queues[key] = deque()
            # run later, but counted against whoever handed it over (usage)
            queue.append((carrying_scope(work), future))  # type: ignore[union-attr]
        if idle:
            self._pool.submit(self._drain, key)
        return future

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return
                work, future = queue.popleft()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as exc:  # nobody may read the future: say it here too
                    log.exception("queued work for %s failed", key)
                    future.set_exception(exc)
