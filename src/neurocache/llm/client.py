"""A small OpenAI-compatible client, used for every backend: supervised local servers and
remote endpoints alike. Every call has explicit timeouts; every failure becomes one of our
errors at this boundary."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, cast

import requests

from neurocache.errors import NeurocacheError, Unavailable


class BackendError(NeurocacheError):
    """The model server answered, with an error."""

    status = 502
    code = "backend_error"


class BackendUnavailable(Unavailable):
    code = "backend_unavailable"


class BackendRejected(NeurocacheError):
    """The model server refused the request as malformed (400/422): the request's fault,
    not the server's, so the caller hears 400 with the server's reason."""

    status = 400
    code = "model_rejected_request"


def server_reason(response: requests.Response) -> str:
    """The `error.message` of an OpenAI-style error body, else the start of the text."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text or response.reason)[:500]


class OpenAIClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 300.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.api_key = api_key
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.session = session or requests.Session()

    def health(self, *, timeout_s: float = 5.0) -> None:
        """Raises unless the server answers, without waiting for a model busy writing:
        llama.cpp's servers (the hub's own, llamafiles) answer `GET /health` at once;
        a server without it is asked for its models instead."""
        root = self.base_url.removesuffix("/v1")
        try:
            response = self.session.get(root + "/health", timeout=(timeout_s, timeout_s))
        except requests.RequestException as exc:
            raise BackendUnavailable(
                f"the model server at {root} cannot be reached: {exc}"
            ) from exc
        # Any other answer means it is alive: a llama.cpp server answers 503 while all its
        # slots are busy, which is no reason to restart it.
        if response.status_code == 404:
            self.models(timeout_s=timeout_s)

    # The server's JSON is taken to be the shape OpenAI's API gives it.
    def models(self, *, timeout_s: float | None = None) -> list[dict[str, Any]]:
        timeout = (timeout_s, timeout_s) if timeout_s else self.timeout
        listed = self._call("GET", "/models", timeout=timeout).json().get("data", [])
        return cast(list[dict[str, Any]], listed)

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        body = {"messages": messages, **params, "stream": False}
        return cast(dict[str, Any], self._call("POST", "/chat/completions", json=body).json())

    def chat_stream(self, messages: list[dict[str, Any]], **params: Any) -> Iterator[dict]:
        """The streamed chunks, as OpenAI's SSE `data:` lines, until `[DONE]`."""
        body = {"messages": messages, **params, "stream": True}
        response = self._call("POST", "/chat/completions", json=body, stream=True)
        with response:
            try:
                yield from parse_sse(response.iter_lines(decode_unicode=True))
            except requests.RequestException as exc:
                raise BackendUnavailable(f"the model server broke off the reply: {exc}") from exc

    def embeddings(self, texts: list[str], model: str | None = None) -> list[list[float]]:
        body: dict[str, Any] = {"input": texts, **({"model": model} if model else {})}
        data = self._call("POST", "/embeddings", json=body).json()["data"]
        return [item["embedding"] for item in sorted(data, key=lambda d: d["index"])]

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self._send(method, path, **kwargs)
        except requests.RequestException as exc:
            raise BackendUnavailable(
                f"the model server at {self.base_url} cannot be reached: {exc}"
            ) from exc
        if response.status_code in (400, 422):
            raise BackendRejected(
                f"the model server refused the request: {server_reason(response)}",
                details={"status": response.status_code, "body": response.text[:2000]},
            )
        if response.status_code >= 400:
            raise BackendError(
                f"the model server answered {response.status_code}",
                details={"status": response.status_code, "body": response.text[:2000]},
            )
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return self.session.request(method, self.base_url + path, headers=headers, **kwargs)


REFUSED_GRACE_S = 0.25


class SupervisedClient(OpenAIClient):
    """The client of a model server the hub runs: it follows the server across restarts
    (a new port each time), and a request that finds the server gone — refused before
    anything was answered — waits for the restart (`wait_running`, bounded) and is sent
    once more, so a crash costs the callers a pause, not an error."""

    def __init__(self, server: Any, wait_s: float) -> None:
        self.server = server  # a ModelProcess: base_url, wait_running(timeout_s)
        self.wait_s = wait_s
        super().__init__("http://127.0.0.1")

    @property
    def base_url(self) -> str:
        return self.server.base_url or "http://127.0.0.1:9/v1"

    @base_url.setter
    def base_url(self, _value: str) -> None:
        pass  # where it is, is the server's to say

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return super()._send(method, path, **kwargs)
        except requests.ConnectionError:
            # A killed server's socket closes before its process can be reaped: for that
            # instant it still reads alive and `running`, and a retry at once met the same
            # refusal. After a moment its exit is seen and the wait is for the restart.
            time.sleep(REFUSED_GRACE_S)
            if not self.server.wait_running(self.wait_s):
                raise
            return super()._send(method, path, **kwargs)


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The events until `[DONE]`; a stream that ends without it was cut off (a server
    that died can close its connection cleanly), which is an error, not an answer."""
    for line in lines:
        if not line or not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            yield json.loads(data)
        except ValueError as exc:
            raise BackendError(f"the model server sent a malformed event: {data[:200]}") from exc
    raise BackendUnavailable("the model server broke off the reply: the stream ended before [DONE]")
