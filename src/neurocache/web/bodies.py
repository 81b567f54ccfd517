"""A chunked request body is held to the size limit like any other.

Werkzeug limits a body sent without `Content-Length` (chunked) by cutting it at
`max_content_length` without a word: the view then reads a truncated body, and a JSON
body cut short answers 400 `invalid_json`. Here such a body is read first, up to one
byte past the limit, into a spooled file (memory up to 1 MiB, disk beyond): past the
limit it is refused with 413; within it the request goes on with its `Content-Length`,
as if it had been sent with one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from neurocache.web.errors import wsgi_error

READ_SIZE = 64 * 1024
IN_MEMORY = 1024 * 1024


class ChunkedBodyLimit:
    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or environ.get("CONTENT_LENGTH"):
            return self.app(environ, start_response)
        body = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115 - the request's
        size = _copy(environ["wsgi.input"], body, self.limit + 1)
        if size > self.limit:
            body.close()
            # The rest of the body is never read: the connection cannot carry another
            # request after it, so it is closed.
            return wsgi_error(
                start_response,
                413,
                f"The request body is larger than this hub accepts ({self.limit} bytes).",
                "payload_too_large",
                environ,
                [("Connection", "close")],
            )
        body.seek(0)
        environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(size)})
        # Werkzeug takes no Content-Length from a request that says it is chunked.
        for name in ("wsgi.input_terminated", "HTTP_TRANSFER_ENCODING"):
            environ.pop(name, None)
        return _closing(self.app(environ, start_response), body)


def _closing(answer: Iterable[bytes], body: Any) -> Iterable[bytes]:
    """The answer, then the spooled body closed (after the answer is sent: a streamed
    answer may still read the request)."""
    try:
        yield from answer
    finally:
        getattr(answer, "close", lambda: None)()
        body.close()


def _copy(source: Any, target: Any, most: int) -> int:
    """Copy until the source ends or `most` bytes were copied; how many were."""
    size = 0
    while size < most and (chunk := source.read(min(READ_SIZE, most - size))):
        target.write(chunk)
        size += len(chunk)
    return size
