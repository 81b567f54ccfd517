"""Small pieces shared by everything that has a model write: the metered stream of a
reply, and running work for one key (a channel) in order while other keys run in parallel."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from typing import Any

from neurocache.errors import Unavailable
from neurocache.llm.backend import ChatBackend
from neurocache.metering.usage import carrying_scope, scope, usage_scope

log = logging.getLogger("neurocache.chat")
SAVE_EVERY_S = 2.0


class MeteredStream:
    """A model's streamed chunks, passed on as they come; once they end (or whoever reads
    stops early) the tokens both ways are counted for usage, in the usage scope the stream
    was made in (a `/v1` stream is read after its view returned, when the request's own
    scope may be gone): as the server reports them, else one per piece. A model that
    failed before its first chunk took nothing. The one streaming core of every reply:
    conversations, agents in channels, summaries and `/v1/chat/completions`."""

    def __init__(
        self,
        backend: ChatBackend,
        chunks: Iterator[dict[str, Any]],
        messages: list[dict[str, Any]],
        prompt_tokens: int | None = None,
    ) -> None:
        self.backend, self.messages, self.prompt_tokens = backend, messages, prompt_tokens
        self.tokens_out = 0
        self._whose = usage_scope.get({})
        self._chunks = chunks
        self._flow = self._metered()

    def __iter__(self) -> MeteredStream:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._flow)

    def close(self) -> None:
        self._flow.close()
        if hasattr(self._chunks, "close"):
            self._chunks.close()

    def _metered(self) -> Generator[dict[str, Any], None, None]:
        pieces, answered = 0, False
        usage: dict[str, Any] = {}
        try:
            for chunk in self._chunks:
                answered = True
                usage = chunk.get("usage") or usage
                pieces += sum(1 for c in chunk.get("choices") or [] if _delta_of(c))
                yield chunk
        finally:
            if answered:
                self._count(usage, pieces)

    def _count(self, usage: dict[str, Any], pieces: int) -> None:
        self.tokens_out = usage.get("completion_tokens") or pieces
        asked = usage.get("prompt_tokens") or self.prompt_tokens
        if asked is None:
            count = self.backend.count_tokens
            asked = sum(count(message_text(m.get("content"))) for m in self.messages)
        with scope(**self._whose):
            self.backend.count_usage(tokens_in=asked, tokens_out=self.tokens_out)


def _delta_of(choice: dict[str, Any]) -> str:
    return (choice.get("delta") or {}).get("content") or ""


def message_text(content: Any) -> str:
    """A message's text: a string, or the text parts of OpenAI's list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def stream_reply(
    backend: ChatBackend,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    temperature: float,
    on_delta: Callable[[str], None] = lambda _d: None,
    save: Callable[[str], object] = lambda _t: None,
    stop: threading.Event | None = None,
    prompt_tokens: int | None = None,
) -> tuple[str, int]:
    """The reply's text and its token count; `save` gets the text so far every couple of
    seconds (a crash keeps what was written), `stop` ends it early."""
    parts: list[str] = []
    saved_at = time.monotonic()
    chunks = backend.client.chat_stream(
        messages, max_tokens=max_tokens, temperature=temperature, model=backend.served_name
    )
    stream = MeteredStream(backend, chunks, list(messages), prompt_tokens)
    with closing(stream):
        for chunk in stream:
            if stop is not None and stop.is_set():
                break
            delta = _delta_of((chunk.get("choices") or [{}])[0])
            if delta:
                parts.append(delta)
                on_delta(delta)
            if time.monotonic() - saved_at > SAVE_EVERY_S:
                save("".join(parts))
                saved_at = time.monotonic()
    return "".join(parts), stream.tokens_out


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
            if queue is None:
                queue = self._queues[key] = deque()
            # run later, but counted against whoever handed it over (usage)
            queue.append((carrying_scope(work), future))
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
