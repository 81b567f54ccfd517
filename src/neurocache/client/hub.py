"""`HubClient`: the hub's public API from Python, one method per thing a plugin does.

Answers are the API's own JSON (the shapes `GET /api/v1/openapi.json` documents), as
dicts, so a client keeps working against a newer hub that adds fields. A refusal raises
`HubError`, which carries the hub's error body (`code`, `message`, `details`); a hub that
cannot be reached raises it too, with the code `unavailable`.

The transport is injected (httpx2): over the network by default, or straight into a Flask
app in this process (`HubClient.in_process`), which is how the MCP endpoint calls the API
with its caller's key, and how tests need no server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx2
from simple_websocket import Client as WebSocket
from simple_websocket import ConnectionClosed
from simple_websocket import ConnectionError as WebSocketRefused

from neurocache.errors import NeurocacheError
from neurocache.settings import RUNTIME_FILE

JSON = dict[str, Any]
SearchMode = Literal["hybrid", "vector", "fulltext"]
LOOPBACK = "http://127.0.0.1"
# a model writing a long answer on a slow machine: minutes between bytes, not seconds
GENERATING_TIMEOUT = httpx2.Timeout(600.0, connect=5.0)
SOCKET_REFUSALS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 429: "rate_limited"}


class HubError(NeurocacheError):
    """The hub said no (or could not be reached): `status`, `code`, `message`, `details`,
    and the whole error `body` as the hub sent it."""

    def __init__(self, status: int, body: JSON) -> None:
        found = body.get("error")
        error: JSON = found if isinstance(found, dict) else {}
        super().__init__(
            str(error.get("message") or f"HTTP {status}"), details=error.get("details")
        )
        self.status = status
        self.code = str(error.get("code") or "internal_error")
        self.body = body

    @classmethod
    def refused_socket(cls, status: int) -> HubError:
        """A WebSocket handshake refused (the library keeps the status, not the body)."""
        code = SOCKET_REFUSALS.get(status, "internal_error")
        message = f"the hub refused the WebSocket with {status} ({code})"
        return cls(status, {"error": {"code": code, "message": message, "status": status}})

    @classmethod
    def too_slow(cls, url: str, exc: Exception) -> HubError:
        message = f"the hub at {url} took too long to answer ({type(exc).__name__})"
        return cls(503, {"error": {"code": "unavailable", "message": message, "status": 503}})

    @classmethod
    def unreachable(cls, url: str, exc: Exception) -> HubError:
        message = f"the hub at {url} cannot be reached: {exc}"
        return cls(503, {"error": {"code": "unavailable", "message": message, "status": 503}})


class HubClient:
    """A hub at `url`, called with an API key (or the owner's token)."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        *,
        transport: httpx2.BaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx2.Client(
            base_url=self.url, headers=headers, transport=transport, timeout=timeout
        )

    @classmethod
    def in_process(cls, wsgi_app: Any, key: str | None, host: str = LOOPBACK) -> HubClient:
        """The API of a Flask app in this process, without a socket (every rule of the
        hub applies: the key's scopes, limits, validation)."""
        return cls(host, key, transport=httpx2.WSGITransport(app=wsgi_app), timeout=600)

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> HubClient | None:
        """The hub serving this data dir (it writes its URL there), signed in with the
        owner's token; None when none answers."""
        try:
            url = json.loads((data_dir / RUNTIME_FILE).read_text())["url"]
            token = (data_dir / "owner_token").read_text().strip()
            httpx2.get(f"{url}/api/v1/health", timeout=2).raise_for_status()
        except (OSError, ValueError, KeyError, httpx2.HTTPError):
            return None
        return cls(url, token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- the one way a request is made
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON (None for an empty one); `HubError` for a refusal."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx2.TimeoutException as exc:
            raise HubError.too_slow(self.url, exc) from exc
        except httpx2.TransportError as exc:
            raise HubError.unreachable(self.url, exc) from exc
        if response.status_code >= 400:
            raise HubError(response.status_code, _body(response))
        return response.json() if response.content else None

    def call(self, method: str, path: str, **kwargs: Any) -> JSON:
        """`request` for an endpoint that answers a JSON object (all but a few do)."""
        answer = self.request(method, path, **kwargs)
        return answer if isinstance(answer, dict) else {"answer": answer}

    def stream(self, path: str, body: JSON) -> Iterator[JSON]:
        """The `data:` events of a server-sent stream POSTed for, decoded."""
        try:
            with self._http.stream("POST", path, json=body, timeout=GENERATING_TIMEOUT) as response:
                if response.status_code >= 400:
                    response.read()
                    raise HubError(response.status_code, _body(response))
                for line in response.iter_lines():
                    data = line.removeprefix("data:").strip() if line.startswith("data:") else ""
                    if data and data != "[DONE]":
                        yield json.loads(data)
        except httpx2.TimeoutException as exc:
            raise HubError.too_slow(self.url, exc) from exc
        except httpx2.TransportError as exc:
            raise HubError.unreachable(self.url, exc) from exc

    # ---- the hub
    def health(self) -> JSON:
        return self.call("GET", "/api/v1/health")

    def status(self) -> JSON:
        return self.call("GET", "/api/v1/status")

    # ---- collections and documents
    def collections(self) -> list[JSON]:
        return list(self.call("GET", "/api/v1/collections")["collections"])

    def create_collection(self, name: str, description: str | None = None) -> JSON:
        body = {"name": name, **({"description": description} if description else {})}
        return self.call("POST", "/api/v1/collections", json=body)

    def collection(self, collection: str) -> JSON:
        """One collection, by id or name."""
        return self.call("GET", f"/api/v1/collections/{_q(collection)}")

    def add_text(
        self,
        text: str,
        *,
        title: str = "",
        url: str | None = None,
        collection: str | None = None,
        metadata: JSON | None = None,
    ) -> JSON:
        """A text taken in as a document (`document`, `job`, `outcome`): searchable once
        its job is done (`wait_indexed`)."""
        body = {
            "title": title,
            "text": text,
            "url": url,
            "collection": collection,
            "metadata": metadata or {},
        }
        return self.call("POST", "/api/v1/documents", json=body)

    def add_file(self, path: Path | str, *, collection: str | None = None) -> JSON:
        """A file uploaded (PDF, DOCX, HTML, Markdown, text…): `document`, `job`, `outcome`."""
        file = Path(path)
        with open(file, "rb") as handle:
            return self.call(
                "POST",
                "/api/v1/documents",
                files={"file": (str(file), handle)},
                data={"collection": collection} if collection else {},
                timeout=300,
            )

    def document(self, document_id: str) -> JSON:
        return self.call("GET", f"/api/v1/documents/{_q(document_id)}")

    def documents(self, *, collection: str | None = None, limit: int = 50) -> list[JSON]:
        params = {"limit": limit, **({"collection": collection} if collection else {})}
        return list(self.call("GET", "/api/v1/documents", params=params)["documents"])

    def delete_document(self, document_id: str) -> None:
        self.request("DELETE", f"/api/v1/documents/{_q(document_id)}")

    def wait_indexed(self, document_id: str, timeout_s: float = 120.0) -> JSON:
        """The document once indexed; `HubError` if it failed or took longer."""
        deadline = time.monotonic() + timeout_s
        while True:
            document = self.document(document_id)
            if document["status"] in ("indexed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if document["status"] != "indexed":
            detail = document.get("error") or f"still {document['status']} after {timeout_s:g} s"
            raise HubError(409, {"error": {"code": "conflict", "message": detail}})
        return document

    def job(self, job_id: str) -> JSON:
        return self.call("GET", f"/api/v1/jobs/{_q(job_id)}")

    # ---- search and memories
    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: SearchMode = "hybrid",
        collections: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> list[JSON]:
        """The best passages first: `text`, `score`, the document or memory they are of."""
        body = {"query": query, "k": k, "mode": mode, "collections": collections, "kinds": kinds}
        return list(self.call("POST", "/api/v1/search", json=body)["results"])

    def remember(
        self,
        content: str,
        *,
        kind: str = "note",
        metadata: JSON | None = None,
        tier: str | None = None,
    ) -> JSON:
        """A memory of your own (searchable at once): a note, a fact, a turn of a chat
        (`metadata.thread`, `speaker`)."""
        body = {"kind": kind, "content": content, "metadata": metadata or {}, "tier": tier}
        return self.call("POST", "/api/v1/memories", json=body)

    def remember_for_agent(self, agent_id: str, content: str, tier: str = "long_term") -> JSON:
        body = {"content": content, "tier": tier}
        return self.call("POST", f"/api/v1/agents/{_q(agent_id)}/memories", json=body)

    def memory(self, memory_id: str) -> JSON:
        return self.call("GET", f"/api/v1/memories/{_q(memory_id)}")

    def recent(
        self, *, kinds: list[str] | None = None, thread: str | None = None, limit: int = 20
    ) -> list[JSON]:
        """The newest memories first, of these kinds or this thread."""
        params: dict[str, Any] = {"limit": limit}
        if kinds:
            params["kind"] = ",".join(kinds)
        if thread:
            params["thread"] = thread
        return list(self.call("GET", "/api/v1/memories", params=params)["memories"])

    def forget(self, memory_id: str) -> None:
        self.request("DELETE", f"/api/v1/memories/{_q(memory_id)}")

    # ---- answers, conversations, channels
    def ask(
        self, question: str, *, collections: list[str] | None = None, max_tokens: int = 512
    ) -> JSON:
        """One answer from the running chat model with its numbered `sources`:
        `{"answer", "sources", "model"}`."""
        answer = self.request(
            "POST",
            "/v1/chat/completions",
            timeout=GENERATING_TIMEOUT,
            json=_question(question, collections, max_tokens, stream=False),
        )
        return {
            "answer": answer["choices"][0]["message"]["content"],
            "sources": (answer.get("neurocache") or {}).get("sources", []),
            "model": answer.get("model"),
        }

    def ask_stream(
        self, question: str, *, collections: list[str] | None = None, max_tokens: int = 512
    ) -> Iterator[JSON]:
        """The answer's chunks as the model writes them (OpenAI's shape); the last one
        carries `neurocache.sources`."""
        body = _question(question, collections, max_tokens, stream=True)
        return self.stream("/v1/chat/completions", body)

    def conversations(self) -> list[JSON]:
        return list(self.call("GET", "/api/v1/conversations")["conversations"])

    def start_conversation(
        self, title: str | None = None, collections: list[str] | None = None
    ) -> JSON:
        body = {"title": title, "collections": collections}
        return self.call("POST", "/api/v1/conversations", json=body)

    def conversation(self, conversation_id: str) -> JSON:
        return self.call("GET", f"/api/v1/conversations/{_q(conversation_id)}")

    def say(self, conversation_id: str, content: str) -> JSON:
        """A message posted and its reply, once complete."""
        body = {"content": content, "wait": True}
        return self.call(
            "POST", f"/api/v1/conversations/{_q(conversation_id)}/messages", json=body, timeout=600
        )

    def channels(self) -> list[JSON]:
        return list(self.call("GET", "/api/v1/channels")["channels"])

    def create_channel(self, name: str, description: str | None = None) -> JSON:
        body = {"name": name, **({"description": description} if description else {})}
        return self.call("POST", "/api/v1/channels", json=body)

    def post(self, channel_id: str, content: str, *, wait: bool = False) -> JSON:
        """A message in a channel (`wait`: with the agents' replies, once complete)."""
        body = {"content": content, "wait": wait}
        path = f"/api/v1/channels/{_q(channel_id)}/messages"
        return self.call("POST", path, json=body, timeout=600)

    def messages(self, channel_id: str, limit: int = 50) -> list[JSON]:
        path = f"/api/v1/channels/{_q(channel_id)}/messages"
        return list(self.call("GET", path, params={"limit": limit})["messages"])

    # ---- live events: the ephemeral pub/sub of `/ws` (and Socket.IO's `publish`)
    def events(self, channels: list[str], timeout_s: float | None = None) -> Iterator[JSON]:
        """The messages published on these channels, as they come (`channel`, `content`,
        `metadata`, `sender`), until the hub closes the socket or none comes for
        `timeout_s`. Over the network only (a hub at a URL, not `in_process`)."""
        socket = self._socket(channels)
        try:
            while (text := socket.receive(timeout=timeout_s)) is not None:
                frame = json.loads(text)
                if "ok" not in frame:  # not an answer to a command of ours: a message
                    yield frame
        except ConnectionClosed:
            return
        finally:
            socket.close()

    def publish(self, channel: str, content: str, metadata: JSON | None = None) -> None:
        """A message to everyone subscribed to `channel` (nothing is stored)."""
        socket = self._socket([])
        try:
            command = {"channel": channel, "content": content, "metadata": metadata or {}}
            socket.send(json.dumps({"method": "pub", "id": 1, "params": command}))
            while (answer := json.loads(socket.receive(timeout=30) or "{}")).get("id") != 1:
                if not answer:
                    raise HubError.unreachable(self.url, TimeoutError("no answer to pub"))
            if not answer.get("ok"):
                raise HubError(answer["error"].get("status", 422), {"error": answer["error"]})
        finally:
            socket.close()

    def _socket(self, channels: list[str]) -> WebSocket:
        query = str(httpx2.QueryParams([("c", channel) for channel in channels]))
        url = self.url.replace("http", "ws", 1) + "/ws" + (f"?{query}" if query else "")
        key = self._http.headers.get("Authorization")
        headers = {"Authorization": key} if key else {}
        try:
            return WebSocket.connect(url, headers=headers)
        except WebSocketRefused as exc:
            if exc.status_code is None:  # no answer at all
                raise HubError.unreachable(self.url, exc) from exc
            raise HubError.refused_socket(exc.status_code) from exc
        except OSError as exc:
            raise HubError.unreachable(self.url, exc) from exc

    # ---- models
    def models(self) -> list[JSON]:
        return list(self.call("GET", "/api/v1/models")["models"])

    def model(self, model_id: str) -> JSON:
        return self.call("GET", f"/api/v1/models/{_q(model_id)}")

    def register_model(self, path: str) -> JSON:
        return self.call("POST", "/api/v1/models", json={"path": path})

    def download_model(self, model_id: str) -> JSON:
        return self.call("POST", f"/api/v1/models/{_q(model_id)}/download")

    def start_model(self, model_id: str) -> JSON:
        return self.call("POST", f"/api/v1/models/{_q(model_id)}/start")

    def stop_model(self, model_id: str) -> JSON:
        return self.call("POST", f"/api/v1/models/{_q(model_id)}/stop")

    def delete_model(self, model_id: str) -> JSON:
        return self.call("DELETE", f"/api/v1/models/{_q(model_id)}")

    def import_bundle(self, raw: bytes, *, ndjson: bool = False, kind: str | None = None) -> JSON:
        """A bundle (or chat-history lines, `ndjson`) imported: what was made, the id map."""
        kind_type = "application/x-ndjson" if ndjson else "application/json"
        return self.call(
            "POST",
            "/api/v1/import",
            content=raw,
            params={"kind": kind} if kind else {},
            headers={"Content-Type": kind_type},
            timeout=600,
        )

    def model_logs(self, model_id: str, lines: int = 200) -> list[str]:
        path = f"/api/v1/models/{_q(model_id)}/logs"
        return list(self.call("GET", path, params={"lines": lines})["lines"])


def _q(part: str) -> str:
    """An id as one path segment (an id with `/`, `..`, `?` or `#` goes nowhere else)."""
    quoted = quote(part, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _question(
    question: str, collections: list[str] | None, max_tokens: int, *, stream: bool
) -> JSON:
    return {
        "model": "neurocache",
        "stream": stream,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": question}],
        "neurocache": {"rag": True, "collections": collections or None},
    }


def _body(response: httpx2.Response) -> JSON:
    """The hub's error body; a body that is not ours (a proxy's page) in our shape."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body
    text = response.text[:500] or response.reason_phrase
    return {"error": {"code": "internal_error", "message": text, "status": response.status_code}}
