"""The model manager: one service for listing, downloading, registering, starting and
stopping models. It reports every change through `publish` (room `models`)."""

from __future__ import annotations

import builtins
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neurocache.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NeurocacheError,
    NotFound,
    Unavailable,
)
from neurocache.events import Publish
from neurocache.llm.backend import ChatBackend, GgufTokenizer, estimate_tokens
from neurocache.llm.catalog import load_catalog
from neurocache.llm.client import OpenAIClient, SupervisedClient
from neurocache.llm.downloader import (
    Download,
    DownloadCancelled,
    DownloadError,
    DownloadOptions,
    Progress,
    part_path,
)
from neurocache.llm.embedder import (
    BUILTIN_MODEL,
    BUILTIN_TOKENIZER,
    LlamaEmbedder,
    RemoteEmbedder,
)
from neurocache.llm.gpu import GpuInfo, detect_gpu
from neurocache.llm.local_files import model_files, usual_places
from neurocache.llm.processes import self_command
from neurocache.llm.records import (
    CatalogEntry,
    DownloadProgress,
    ModelFile,
    ModelRecord,
    ServerState,
)
from neurocache.llm.registry import (
    inspect_local_file,
    model_view,
    new_local_id,
    row_from_catalog,
)
from neurocache.llm.reranker import LlamaReranker
from neurocache.llm.shared import SharedServers
from neurocache.llm.supervisor import ModelProcess
from neurocache.settings import Settings
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.database import get_or_not_found
from neurocache.store.tables import Model
from neurocache.threads import Threads

log = logging.getLogger("neurocache.llm")
ROOM = "models"
MAX_CONTEXT = 4096  # context asked of a model server unless the model has less


def _update(session: Session, model_id: str, **values: Any) -> Model | None:
    row = session.get(Model, model_id)
    if row is not None:
        for name, value in values.items():
            setattr(row, name, value)
    return row


class ModelManager:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        publish: Publish,
        *,
        gpu: GpuInfo | None = None,
        download_options: DownloadOptions | None = None,
        count_usage: Callable[..., None] = lambda **_counts: None,
        threads: Threads | None = None,
        shared: SharedServers | None = None,
    ) -> None:
        self.settings = settings
        self.threads = threads or Threads()
        # team mode: a model's server runs in one hub process, the others use it
        self.shared = shared or SharedServers(db, owner="")
        self._sharing = threading.Event()
        self.count_usage = count_usage  # tokens each model took and gave, for usage
        self.db = db
        self.publish = publish
        self.catalog: dict[str, CatalogEntry] = load_catalog(settings.catalog_path)
        self.models_dir = settings.effective_models_dir
        self.download_options = download_options or DownloadOptions(
            retries=settings.download_retries
        )
        self._gpu = gpu
        self._lock = threading.RLock()  # downloads and their rows
        self._start_lock = threading.Lock()  # starting and stopping model servers
        self._processes: dict[str, ModelProcess] = {}
        self._tokenizers: dict[str, GgufTokenizer] = {}
        self._clients: dict[tuple[str, str | None], OpenAIClient] = {}
        self._supervised: dict[str, SupervisedClient] = {}
        self._downloads: dict[str, Download] = {}
        self._progress: dict[str, DownloadProgress] = {}
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_downloads)

    # ---- reading
    def list(self) -> builtins.list[ModelRecord]:
        with self.db.session() as session:
            rows = {row.id: row for row in session.scalars(select(Model))}
        ids = list(self.catalog) + [i for i in rows if i not in self.catalog]
        return [self._view(i, rows.get(i)) for i in ids]

    def get(self, model_id: str) -> ModelRecord:
        row = self._row(model_id)
        if row is None and model_id not in self.catalog:
            raise NotFound(f"no model with id {model_id}")
        return self._view(model_id, row)

    def logs(self, model_id: str, lines: int = 200) -> builtins.list[str]:
        self.get(model_id)
        process = self._processes.get(model_id)
        if process is not None:
            return process.logs(lines)
        path = self._log_path(model_id)
        return path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []

    def running(self, role: str) -> ModelRecord | None:
        """The running model of a role (chat or embedding), if any."""
        return next((m for m in self.list() if m.role == role and m.state == "running"), None)

    def client_for(self, model_id: str, row: Model | None = None) -> OpenAIClient:
        """`row`: the model's, when the caller has just read it (one read less)."""
        row = row if row is not None else self._row(model_id)
        if row is not None and row.source == "remote":
            return self._client(row.base_url or "", row.api_key)
        process = self._processes.get(model_id)
        if process is None and (url := self.shared.elsewhere(row)) is not None:
            return self._client(url, None)  # another hub process runs it
        if process is None or not process.wait_running(self.settings.model_restart_wait_s):
            raise Conflict(f"model {model_id} is not running: start it first")
        with self._lock:  # one per server: it follows the server across restarts
            if model_id not in self._supervised or self._supervised[model_id].server is not process:
                self._supervised[model_id] = SupervisedClient(
                    process, self.settings.model_restart_wait_s
                )
            return self._supervised[model_id]

    def _client(self, base_url: str, api_key: str | None) -> OpenAIClient:
        """One client (and its pool of kept-alive connections) per server: a new
        connection per answer cost milliseconds of time to first token."""
        with self._lock:
            key = (base_url, api_key)
            if key not in self._clients:
                self._clients[key] = OpenAIClient(base_url, api_key)
            return self._clients[key]

    def chat_backend(self, model_id: str | None = None) -> ChatBackend:
        """The chat model `model_id`, or the running one; 503 saying what to do when none
        can answer."""
        if model_id is None:
            running = self._running_chat_model() or self._coming_chat_model()
            if running is None:
                raise Unavailable(
                    "no chat model is running: start one (`neurocache models start ID` or "
                    "POST /api/v1/models/{id}/start), after downloading one if none is "
                    "installed (`neurocache models pull ID`)",
                    details={"models": "/api/v1/models"},
                )
            model_id = running
        row = self._row(model_id)
        if row is None or row.role != "chat":
            raise InvalidInput(f"{model_id} is not a chat model of this hub")
        if (
            row.source != "remote"
            and not self._wait_running(model_id)
            and self.shared.elsewhere(row) is None
        ):
            raise Unavailable(
                f"the chat model {model_id} is not running: start it "
                f"(POST /api/v1/models/{model_id}/start)"
            )
        return ChatBackend(
            model_id,
            self.client_for(model_id, row),
            row.remote_model if row.source == "remote" else row.id,
            min(row.context_length or MAX_CONTEXT, MAX_CONTEXT),
            self._token_counter(row),
            lambda **tokens: self.count_usage(model=model_id, **tokens),
        )

    def is_chat_model(self, model_id: str) -> bool:
        """Registered or installed as a chat model (no catalog view is built: cheap)."""
        row = self._row(model_id)
        return row is not None and row.role == "chat"

    def _running_chat_model(self) -> str | None:
        """Cheaper than `running("chat")` (no views built): asked before every answer."""
        for model_id in self._running_ids():
            row = self._row(model_id)
            if row is not None and row.role == "chat":
                return model_id
        for row in self._served_elsewhere("chat"):
            return row.id
        with self.db.session() as session:  # a remote model answers while it is registered
            return session.scalar(
                select(Model.id).where(
                    Model.role == "chat", Model.source == "remote", Model.error.is_(None)
                )
            )

    def _served_elsewhere(self, role: str) -> builtins.list[Model]:
        """Models of `role` whose server another live hub process runs (team mode)."""
        if not self.shared.enabled:
            return []
        with self.db.session() as session:
            rows = list(session.scalars(select(Model).where(Model.role == role)))
        return [row for row in rows if self.shared.elsewhere(row)]

    def _running_ids(self) -> set[str]:
        return {i for i, p in list(self._processes.items()) if p.state == "running"}

    def _coming_chat_model(self) -> str | None:
        """A chat model starting or restarting (none runs now): a request waits for it."""
        for model_id, process in list(self._processes.items()):
            row = self._row(model_id)
            if (
                row is not None
                and row.role == "chat"
                and process.state in ("starting", "restarting")
            ):
                return model_id
        return None

    def _wait_running(self, model_id: str) -> bool:
        """Whether the model's server runs, waiting (bounded) while it starts or restarts:
        a request that comes during a restart is answered late rather than refused."""
        process = self._processes.get(model_id)
        return process is not None and process.wait_running(self.settings.model_restart_wait_s)

    def _token_counter(self, row: Model) -> Callable[[str], int]:
        if row.format != "gguf" or row.source == "remote" or not row.path:
            return estimate_tokens
        with self._lock:
            if row.id not in self._tokenizers:
                self._tokenizers[row.id] = GgufTokenizer(Path(row.path))
            return self._tokenizers[row.id]

    def embedder_for(self, choice: str, threads: int) -> LlamaEmbedder | RemoteEmbedder:
        """`builtin`, or an embedding model: in-process when it is a local GGUF."""
        if choice == "builtin":
            return LlamaEmbedder(
                BUILTIN_MODEL,
                contexts=threads,
                tokenizer_path=BUILTIN_TOKENIZER,
                name="builtin (all-MiniLM-L6-v2)",
                threads=self.threads,
            )
        row = self._row(choice)
        if row is None or row.role != "embedding":
            raise InvalidInput(f"the embedder {choice!r} is not an embedding model of this hub")
        if row.source == "remote":
            return RemoteEmbedder(self.client_for(choice), row.remote_model, row.name)
        if row.state != "installed" or row.format != "gguf":
            raise Conflict(f"the embedder {choice} is not an installed GGUF file")
        return LlamaEmbedder(
            Path(row.path or ""), contexts=threads, name=row.name, threads=self.threads
        )

    def reranker_for(self, choice: str, threads: int) -> LlamaReranker:
        """The reranker `choice`: an installed GGUF of role `rerank`, run in-process."""
        row = self._row(choice)
        if row is None or row.role != "rerank":
            raise InvalidInput(f"the reranker {choice!r} is not a rerank model of this hub")
        if row.state != "installed" or row.format != "gguf":
            raise Conflict(f"the reranker {choice} is not an installed GGUF file")
        return LlamaReranker(Path(row.path or ""), threads=threads, name=row.name)

    # ---- registering
    def local_files(self, anywhere: bool) -> builtins.list[ModelFile]:
        """Model files on this machine not registered yet: in the models dir, and for the
        machine's owner (`anywhere`) in the usual download folders too."""
        folders = usual_places(self.models_dir) if anywhere else [self.models_dir]
        with self.db.session() as session:
            known = {path for path in session.scalars(select(Model.path)) if path}
        return model_files(folders, known)

    def register_local(
        self,
        path: str,
        actor: Actor,
        *,
        name: str | None = None,
        role: str | None = None,
        anywhere: bool = True,
    ) -> ModelRecord:
        """A local model file. A llamafile is a program the hub will run: callers that are
        not the machine's owner (`anywhere=False`) may only name files in the models dir."""
        file = local_file(path)
        models_dir = self.models_dir.resolve()
        if not anywhere and not file.is_relative_to(models_dir):
            raise Forbidden(
                f"an API key may register only files in {models_dir}; the owner "
                "(CLI or browser) may register any path"
            )
        facts = inspect_local_file(file)
        row = Model(
            id=new_local_id("local"),
            name=name or facts.name,
            role=role or facts.role,
            format=facts.format,
            source="local",
            path=str(file),
            state="installed",
            size=file.stat().st_size,
            context_length=facts.context_length,
            verified=False,
            meta={"architecture": facts.architecture},
        )
        return self._add(row, actor)

    def register_remote(
        self,
        base_url: str,
        model: str,
        actor: Actor,
        *,
        api_key: str | None = None,
        name: str | None = None,
        role: str = "chat",
    ) -> ModelRecord:
        row = Model(
            id=new_local_id("remote"),
            name=name or f"{model} at {base_url}",
            role=role,
            format="remote",
            source="remote",
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            remote_model=model,
            state="installed",
            verified=False,
            meta={},
        )
        view = self._add(row, actor)
        return self._check_remote(row.id) or view

    def _add(self, row: Model, actor: Actor) -> ModelRecord:
        with self.db.session() as session:
            session.add(row)
            session.flush()
            view = model_view(self.catalog.get(row.id), row)
            audit.record(session, actor, "model.register", ("model", row.id), None, view.lasting())
        self._changed(row.id)
        return self.get(row.id)

    # ---- downloading
    def download(self, model_id: str, actor: Actor) -> ModelRecord:
        entry = self.catalog.get(model_id)
        if entry is None:
            raise InvalidInput(f"{model_id} is not in the catalog: only catalog models download")
        with self._lock:
            if model_id in self._downloads:
                return self.get(model_id)
            row = self._ensure_row(entry)
            if row.state == "installed":
                raise Conflict(f"{model_id} is already installed")
            with self.db.session() as session:  # the new state with its audit entry
                _update(session, model_id, state="downloading", error=None)
                audit.record(
                    session, actor, "model.download", ("model", model_id), None, {"url": entry.url}
                )
            self._start_download(model_id)
        return self.get(model_id)

    def cancel_download(self, model_id: str, actor: Actor) -> ModelRecord:
        with self._lock:
            if not self._forget_download(model_id, actor):
                raise Conflict(f"{model_id} is not downloading")
        self._changed(model_id)
        return self.get(model_id)

    def resume_downloads(self) -> None:
        """Downloads that were running when the hub stopped go on where they stopped."""
        with self.db.session() as session:
            ids = list(session.scalars(select(Model.id).where(Model.state == "downloading")))
        for model_id in ids:
            if model_id in self.catalog:
                self._start_download(model_id)
            else:
                self._set_row(model_id, state="failed", error="no longer in the catalog")

    def _ensure_row(self, entry: CatalogEntry) -> Model:
        row = self._row(entry.id)
        if row is None:
            row = row_from_catalog(entry, self.models_dir)
            with self.db.session() as session:
                session.add(row)
        return row

    def _start_download(self, model_id: str) -> None:
        row = self._row(model_id)
        assert row is not None and row.url and row.path
        job = Download(
            row.url,
            Path(row.path),
            # A hash recorded on an earlier download counts as the expected one (TOFU).
            expected_sha256=row.expected_sha256 or row.sha256,
            size_hint=row.size,
            options=self.download_options,
            on_progress=lambda progress: self._download_progress(model_id, progress),
        )
        self._downloads[model_id] = job
        self.threads.start(f"download-{model_id}", self._download_worker, model_id, job)

    def _download_worker(self, model_id: str, job: Download) -> None:
        outcome: dict[str, Any]
        try:
            while not self._slots.acquire(timeout=0.2):  # queued: still cancellable
                job.raise_if_cancelled()
            try:
                result = job.run()
            finally:
                self._slots.release()
        except DownloadCancelled:
            outcome = {} if not job.discarded else {"state": "absent", "error": None}
        except (DownloadError, OSError) as exc:
            outcome = {"state": "failed", "error": str(exc)}
        except Exception as exc:  # never let a download thread die silently
            log.exception("download of %s failed", model_id)
            outcome = {"state": "failed", "error": f"internal error: {exc}"}
        else:
            outcome = {
                "state": "installed",
                "error": None,
                "sha256": result.sha256,
                "verified": result.verified,
                "size": result.size,
            }
        self._settle_download(model_id, job, outcome)

    def _settle_download(self, model_id: str, job: Download, outcome: dict[str, Any]) -> None:
        """The last word on a download's row, unless a cancel or delete already had it."""
        with self._lock:
            if self._downloads.get(model_id) is job:
                self._downloads.pop(model_id)
                self._progress.pop(model_id, None)
                if outcome:  # empty: paused by a shutdown, to resume at the next start
                    self._set_row(model_id, **outcome)
            elif outcome.get("state") == "installed":
                job.dest.unlink(missing_ok=True)  # finished just as it was cancelled
        self._changed(model_id)

    def _forget_download(self, model_id: str, actor: Actor | None = None) -> bool:
        """Cancel a download for good; the row says `absent` at once (audited as the
        actor's cancel, in the same transaction, when there is one). Call under the lock."""
        job = self._downloads.pop(model_id, None)
        if job is None:
            return False
        self._progress.pop(model_id, None)
        job.cancel(discard=True)
        with self.db.session() as session:
            row = _update(session, model_id, state="absent", error=None)
            if actor is not None and row is not None:
                session.flush()
                audit.record(
                    session,
                    actor,
                    "model.download.cancel",
                    ("model", model_id),
                    None,
                    model_view(self.catalog.get(model_id), row).lasting(),
                )
        return True

    def _download_progress(self, model_id: str, progress: Progress) -> None:
        view = progress_view(model_id, progress)
        self._progress[model_id] = view
        self.publish("model.download.progress", view.plain(), ROOM)

    # ---- running
    def start(self, model_id: str, actor: Actor | None = None) -> ModelRecord:
        before = self.get(model_id)
        after = self._start(model_id)
        self._record(actor, "model.start", model_id, before, after, desired="running")
        return after

    def _start(self, model_id: str) -> ModelRecord:
        row = self._row(model_id)
        if row is None or row.state != "installed":
            raise Conflict(f"{model_id} is not installed: download or register it first")
        if row.source == "remote":
            return self._check_remote(model_id) or self.get(model_id)
        if model_id not in self._processes and not self.shared.claim(model_id):
            self._set_row(model_id, desired_state="running")
            return self.get(model_id)  # another hub process runs its server: shared
        if row.role == "rerank":
            raise Conflict(
                f"{model_id} is a reranker: it runs inside the hub, chosen with the "
                f'`reranker` setting (reranker = "{model_id}")'
            )
        if not Path(row.path or "").is_file():
            self._set_row(model_id, state="failed", error=f"the file {row.path} is gone")
            raise Conflict(f"the file of {model_id} is gone: download it again")
        with self._start_lock:
            # The model running now keeps answering until this one does (`_took_over`):
            # a file that turns out broken never costs the model that was working.
            process = self._processes.get(model_id)
            if process is None:
                process = self._new_process(row)
                self._processes[model_id] = process
            process.start()
        return self.get(model_id)

    def _server_changed(self, model_id: str, process: ModelProcess) -> None:
        if process.state == "running" and process.port is not None:
            self.shared.announce(model_id, f"http://127.0.0.1:{process.port}")
        elif process.state in ("stopped", "failed"):
            self.shared.withdraw(model_id)
        if process.state == "running":
            # Stopping the others joins their supervising threads: not from this one's.
            self.threads.start(f"model-{model_id}-takeover", self._took_over, model_id, process)
        elif process.state == "failed":
            self._set_row(model_id, desired_state="stopped")  # it cannot run: not at start
        self._changed(model_id)

    def _took_over(self, model_id: str, process: ModelProcess) -> None:
        """One chat model and one embedding model at a time: the one that came up stops
        the others of its role (under the lock: two coming up at once leave one)."""
        with self._start_lock:
            row = self._row(model_id)
            if (
                row is None
                or process.state != "running"
                or self._processes.get(model_id) is not process
            ):
                return
            for other_id, other in list(self._processes.items()):
                other_row = self._row(other_id)
                if (
                    other_id != model_id
                    and other_row is not None
                    and other_row.role == row.role
                    and other.state != "stopped"
                ):
                    other.stop()
                    self._set_row(other_id, desired_state="stopped")

    def resume_running(self) -> None:
        """The models that were running when the hub stopped run again."""
        with self.db.session() as session:
            wanted = list(
                session.scalars(
                    select(Model.id).where(
                        Model.desired_state == "running",
                        Model.state == "installed",
                        Model.source != "remote",
                    )
                )
            )
        for model_id in wanted:
            try:
                self._start(model_id)
            except NeurocacheError as exc:
                log.warning(
                    "model %s was running when the hub stopped but cannot start now: %s",
                    model_id,
                    exc.message,
                )

    def stop(self, model_id: str, actor: Actor | None = None) -> ModelRecord:
        before = self.get(model_id)
        process = self._processes.get(model_id)
        if process is not None:
            process.stop()
        after = self.get(model_id)
        self._record(actor, "model.stop", model_id, before, after, desired="stopped")
        return after

    def _record(
        self,
        actor: Actor | None,
        action: str,
        model_id: str,
        before: ModelRecord | None,
        after: ModelRecord | None,
        desired: str | None = None,
    ) -> None:
        """What the owner asked for (so a restarted hub honours it), audited when someone
        asked (the hub's own changes are not), in one transaction."""
        with self.db.session() as session:
            if desired is not None:
                _update(session, model_id, desired_state=desired)
            if actor is not None:
                audit.record(
                    session,
                    actor,
                    action,
                    ("model", model_id),
                    before and before.lasting(),
                    after and after.lasting(),
                )

    def _new_process(self, row: Model) -> ModelProcess:
        gpu = self.gpu
        if row.format == "llamafile":  # a llamafile brings its own GPU support
            gpu = GpuInfo(gpu.kind, gpu.name, build_can_offload=True)
        plan = gpu.plan(self.settings.gpu_layers)
        return ModelProcess(
            row.id,
            self._command(row, int(plan["gpu_layers"])),
            log_path=self._log_path(row.id),
            on_change=lambda process: self._server_changed(row.id, process),
            start_timeout_s=self.settings.model_start_timeout_s,
            health_interval_s=self.settings.model_health_interval_s,
            max_restarts=self.settings.model_max_restarts,
            gpu_plan=plan,
            threads=self.threads,
        )

    def _command(self, row: Model, gpu_layers: int) -> Callable[[int], builtins.list[str]]:
        n_ctx = min(row.context_length or MAX_CONTEXT, MAX_CONTEXT)
        parent = str(os.getpid())
        embedding = ["--embedding"] if row.role == "embedding" else []
        if row.format == "llamafile":
            executable = _executable(Path(row.path or ""))
            gpu = ["-ngl", str(gpu_layers)] if gpu_layers else ["--gpu", "disable"]
            return lambda port: [
                *self_command(),
                "guard",
                "--parent-pid",
                parent,
                "--",
                *executable,
                "--server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--nobrowser",
                "-c",
                str(n_ctx),
                *gpu,
                *embedding,
            ]
        return lambda port: [
            *self_command(),
            "model-server",
            "--model",
            row.path or "",
            "--port",
            str(port),
            "--n-ctx",
            str(n_ctx),
            "--n-gpu-layers",
            str(gpu_layers),
            "--alias",
            row.id,
            "--parent-pid",
            parent,
            *embedding,
        ]

    @property
    def gpu(self) -> GpuInfo:
        if self._gpu is None:
            self._gpu = detect_gpu()
        return self._gpu

    def _check_remote(self, model_id: str) -> ModelRecord | None:
        row = self._row(model_id)
        assert row is not None
        try:
            OpenAIClient(row.base_url or "", row.api_key, read_timeout_s=10).models(timeout_s=10)
        except NeurocacheError as exc:
            self._set_row(model_id, error=f"not reachable: {exc.message}")
        else:
            self._set_row(model_id, error=None)
        self._changed(model_id)
        return self.get(model_id)

    # ---- removing
    def delete(self, model_id: str, actor: Actor) -> ModelRecord:
        before = self.get(model_id)
        process = self._processes.pop(model_id, None)
        if process is not None:
            process.stop()
        with self._lock:
            self._forget_download(model_id)
            self._delete_row_and_files(model_id, actor, before)
        self._changed(model_id)
        if model_id in self.catalog:
            return self.get(model_id)
        return before.model_copy(update={"state": "absent"})  # forgotten: no row to read

    def _delete_row_and_files(self, model_id: str, actor: Actor, before: ModelRecord) -> None:
        row = self._row(model_id)
        with self.db.session() as session:
            if row is not None and row.source == "catalog":
                # The row stays with the hash first received; the downloaded file goes
                # after the commit (a crash between leaves a stray file, never a row that
                # says installed with no file).
                stored = get_or_not_found(session, Model, model_id, "model")
                stored.state, stored.error, stored.desired_state = "absent", None, "stopped"
            elif row is not None:  # a registered file stays where the user keeps it
                session.delete(session.get(Model, model_id))
            audit.record(
                session, actor, "model.delete", ("model", model_id), before.lasting(), None
            )
        if row is not None and row.source == "catalog":
            for path in (Path(row.path or ""), part_path(Path(row.path or ""))):
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop every model server; pause downloads (they resume at the next start)."""
        self._sharing.set()
        for process in list(self._processes.values()):
            process.stop()
        for tokenizer in self._tokenizers.values():
            tokenizer.close()
        with self._lock:
            jobs = list(self._downloads.values())
        for job in jobs:
            job.cancel(discard=False)

    # ---- plumbing
    def _row(self, model_id: str) -> Model | None:
        with self.db.session() as session:
            return session.get(Model, model_id)

    def _set_row(self, model_id: str, **values: Any) -> None:
        with self.db.session() as session:
            _update(session, model_id, **values)

    def _view(self, model_id: str, row: Model | None) -> ModelRecord:
        process = self._processes.get(model_id)
        runtime = process.status() if process else None
        if runtime is None and (url := self.shared.elsewhere(row)) is not None:
            owner = row.server_owner if row is not None else None
            runtime = ServerState(state="running", error=None, url=url, owner=owner)
        return model_view(self.catalog.get(model_id), row, runtime, self._progress.get(model_id))

    # ---- team mode: servers shared across hub processes (llm/shared.py)
    def start_sharing(self) -> None:
        if self.shared.enabled:
            self.threads.start("model-servers-shared", self._keep_shared)

    def stop_sharing(self) -> None:
        self._sharing.set()

    def _keep_shared(self) -> None:
        """Renew the leases of the servers this process runs; stop those another process
        was asked to stop; start those whose owner died."""
        while not self._sharing.wait(self.shared.lease_s / 3):
            try:
                self._share_once()
            except Exception:  # the next round tries again
                log.exception("sharing model servers failed")

    def _share_once(self) -> None:
        mine = sorted(self._running_ids())
        self.shared.renew(mine)
        for model_id in mine:
            row = self._row(model_id)
            if row is not None and row.desired_state == "stopped":
                self.stop(model_id)
        for model_id in self.shared.orphans():
            if model_id not in self._processes:
                self._start(model_id)

    def _changed(self, model_id: str) -> None:
        try:
            view = self.get(model_id)
        except NotFound:
            return
        self.publish("model.status", view.lasting(), ROOM)

    def _log_path(self, model_id: str) -> Path:
        return self.settings.data_dir / "logs" / "models" / f"{model_id}.log"


def local_file(path: str) -> Path:
    """The file a person named, resolved; a name the OS cannot even look up (too long, a
    NUL, a loop of links) is their mistake, said as such."""
    try:
        file = Path(path).expanduser().resolve()
        file.is_file()  # raises for a name too long, which resolve() lets through
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidInput(
            f"{path!r} cannot be looked up as a file: {getattr(exc, 'strerror', None) or exc}",
            details={"field": "path"},
        ) from exc
    return file


def _executable(path: Path) -> list[str]:
    """A llamafile, made executable (the guard falls back to `sh` where exec refuses it)."""
    if sys.platform != "win32":
        mode = path.stat().st_mode
        if not mode & stat.S_IXUSR:
            path.chmod(mode | stat.S_IXUSR)
    return [str(path)]


def progress_view(model_id: str, progress: Progress) -> DownloadProgress:
    """A download's progress as clients see it."""
    fields: dict[str, Any] = {
        "id": model_id,
        "bytes": progress.done,
        "total": progress.total,
        "rate": round(progress.rate),
        "eta_s": progress.eta_s,
    }
    if progress.retry:  # a try failed: which, why, and when the next one is
        fields |= {
            "retry": progress.retry,
            "retries": progress.retries,
            "next_attempt_s": progress.next_attempt_s,
            "error": progress.error,
        }
    return DownloadProgress(**fields)
