"""Memory Cache compatibility: the 21 endpoints Memory Cache's browser client calls, under
`/api/v1/`, mapped onto collections (projects), watched folders (project directories),
search, the `/v1` completions (rag_ask) and the hub's models (llamafiles). Off by default:
only the `memory_cache_compat` setting registers it (docs/memory-cache.md).

Its parameters are where that client sends them, in the query string even on POST and
DELETE (a JSON body only for `vector_db_query` and `rag_ask`), and its answers are in that
client's shapes. **Errors:** this blueprint is the one place where the hub's error body
gives way to another: an application error (no such project, a folder watched already, no
chat model running) answers HTTP 200 `{"status": "error", "message": ...}`, as Memory
Cache's hub did, because its client catches no 4xx or 5xx. Who may call stays the hub's
rule, with the hub's body: the same credentials and scopes as the rest of `/api/v1`, so
401, 403 (and the Host/Origin refusals, the 429 of rate limits, the 422 of a malformed
parameter) keep `{"error": {...}}`.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, cast

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask.blueprints import BlueprintSetupState
from pydantic import ConfigDict, Field, RootModel

from neurocache.errors import Forbidden, InvalidInput, NeurocacheError, NotFound, Unauthorized
from neurocache.knowledge.projects import (
    ProjectDirectoryRecord,
    ProjectRecord,
    Projects,
    file_name,
)
from neurocache.llm.llamafiles import (
    LlamafileInfo,
    LlamafileStatus,
    is_llamafile,
    llamafile_info,
    llamafile_status,
)
from neurocache.llm.records import ModelRecord
from neurocache.search.records import SearchResult
from neurocache.search.service import Filters
from neurocache.settings import Settings
from neurocache.web.api import INT64, ApiModel, QueryModel, RequestModel, endpoint
from neurocache.web.auth import current_actor, current_hub, current_principal

bp = Blueprint("memory_cache", __name__, url_prefix="/api/v1")
EXTENSION = "neurocache.memory_cache"
QUERY_RESULTS = 10  # Chroma's default, which Memory Cache's hub used


class AskedProjects:
    """The projects with a `rag_ask` in flight in this process, for
    `check_waiting_for_chat_status` (its client polls it every second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asking: Counter[int] = Counter()

    @contextmanager
    def asking(self, project_id: int) -> Iterator[None]:
        with self._lock:
            self._asking[project_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._asking[project_id] -= 1
                if not self._asking[project_id]:
                    del self._asking[project_id]

    def waiting(self, project_id: int) -> bool:
        with self._lock:
            return self._asking[project_id] > 0


class MemoryCache:
    """What this blueprint keeps for one app (no module-level state)."""

    def __init__(self, projects: Projects) -> None:
        self.projects = projects
        self.asked = AskedProjects()


def register_memory_cache(app: Flask, settings: Settings) -> None:
    """Only with `memory_cache_compat` on; off, its paths stay 404."""
    if settings.memory_cache_compat:
        app.register_blueprint(bp)


@bp.record_once
def _build(state: BlueprintSetupState) -> None:
    hub = state.app.extensions["neurocache"]
    state.app.extensions[EXTENSION] = MemoryCache(Projects(hub.db, hub.knowledge, hub.folders))


def compat() -> MemoryCache:
    return cast(MemoryCache, current_app.extensions[EXTENSION])


def projects() -> Projects:
    return compat().projects


def failure(message: str) -> dict[str, str]:
    return {"status": "error", "message": message}


def in_their_convention(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view's application errors as Memory Cache answered them (HTTP 200, `status`
    `error`); refusals of the caller (401, 403) stay the hub's."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except (Unauthorized, Forbidden):
            raise
        except NeurocacheError as exc:
            return failure(exc.message)

    return wrapper


# ---- what it takes
ProjectId = Annotated[int, Field(ge=0, le=INT64, description="The project's integer id.")]


class ProjectQuery(QueryModel):
    project_id: ProjectId


class NewProject(QueryModel):
    project_name: str = Field(max_length=200, description='A name; "" is "New Project".')


class ProjectChange(QueryModel):
    project_id: ProjectId
    project_name: str = Field(max_length=200)


class NewDirectory(QueryModel):
    project_id: ProjectId
    path: str = Field(max_length=4096, description="A folder on this machine, watched.")


class DirectoryQuery(QueryModel):
    directory_id: int = Field(ge=0, le=INT64)


class LlamafileQuery(QueryModel):
    llamafile_filename: str = Field(
        max_length=200, description="A chat model's id (`filename` in list_llamafiles)."
    )


class ProjectPrompt(RequestModel):
    project_id: ProjectId
    prompt: str = Field(max_length=100_000)


# ---- what it answers (Memory Cache's shapes)
class Outcome(ApiModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok", "success", "error"]
    message: str | None = None


class ProjectList(ApiModel):
    model_config = ConfigDict(extra="forbid")
    projects: list[ProjectRecord]


class ProjectListAnswer(RootModel[ProjectList | Outcome]):
    pass


class ProjectAnswer(RootModel[ProjectRecord | Outcome]):
    pass


class DirectoryAnswer(RootModel[ProjectDirectoryRecord | Outcome]):
    pass


class DirectoryListAnswer(RootModel[list[ProjectDirectoryRecord] | Outcome]):
    pass


class FileListAnswer(RootModel[list[str] | Outcome]):
    pass


class IngestionStatus(ApiModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]
    isIngesting: bool
    message: str


class IngestionStatusAnswer(RootModel[IngestionStatus | Outcome]):
    pass


class Ingested(ApiModel):
    model_config = ConfigDict(extra="forbid")
    num_files: int
    num_fragments: int


class IngestedAnswer(RootModel[Ingested | Outcome]):
    pass


class VectorQueryHit(ApiModel):
    model_config = ConfigDict(extra="forbid")
    file_path: str
    file_content: str
    distance: float = Field(description="Squared L2 of unit vectors (2 - 2 cos): lower is nearer.")


class VectorQueryAnswer(RootModel[list[VectorQueryHit] | Outcome]):
    pass


class RagAnswer(ApiModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok", "error"]
    message: str | None
    response: str | None


class WaitingStatus(ApiModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]
    isWaiting: bool
    message: str


class WaitingStatusAnswer(RootModel[WaitingStatus | Outcome]):
    pass


class LlamafileList(RootModel[list[LlamafileInfo]]):
    pass


class LlamafileStatusAnswer(RootModel[LlamafileStatus | Outcome]):
    pass


class RunningLlamafile(RootModel[LlamafileInfo | None]):
    pass


# ---- projects
@bp.get("/list_projects")
@endpoint(scope="read", responses={200: ProjectListAnswer})
@in_their_convention
def list_projects() -> dict[str, list[ProjectRecord]]:
    """Memory Cache: every project (a collection), with its integer id."""
    return {"projects": projects().list()}


@bp.post("/create_project")
@endpoint(scope="write", query=NewProject, responses={200: ProjectListAnswer})
@in_their_convention
def create_project(query: NewProject) -> dict[str, list[ProjectRecord]]:
    """Memory Cache: a new project, a collection (a taken name gets a number)."""
    return {"projects": [projects().create(query.project_name, current_actor())]}


@bp.post("/update_project")
@endpoint(scope="write", query=ProjectChange, responses={200: ProjectAnswer})
@in_their_convention
def update_project(query: ProjectChange) -> ProjectRecord:
    """Memory Cache: rename a project (its collection)."""
    return projects().rename(query.project_id, query.project_name, current_actor())


@bp.delete("/delete_project")
@endpoint(scope="write", query=ProjectQuery, responses={200: Outcome})
@in_their_convention
def delete_project(query: ProjectQuery) -> dict[str, str]:
    """Memory Cache: delete a project: its collection, its documents, its folders' watch
    (unwatching a folder needs `admin`, as `DELETE /api/v1/folders/{id}` does)."""
    watching = projects().directories(query.project_id)
    if watching and not current_principal().can("admin"):
        raise Forbidden(
            "this project watches folders: deleting it needs the `admin` scope",
            details={"required_scope": "admin"},
        )
    projects().delete(query.project_id, current_actor())
    return {"status": "ok"}


# ---- directories and files
@bp.post("/create_project_directory")
@endpoint(scope="admin", query=NewDirectory, responses={200: DirectoryAnswer})
@in_their_convention
def create_project_directory(query: NewDirectory) -> ProjectDirectoryRecord:
    """Memory Cache: add a directory to a project: a watched folder (owner only)."""
    owner = current_principal().kind == "owner"
    return projects().add_directory(query.project_id, query.path, current_actor(), owner=owner)


@bp.get("/list_project_directories")
@endpoint(scope="read", query=ProjectQuery, responses={200: DirectoryListAnswer})
@in_their_convention
def list_project_directories(query: ProjectQuery) -> list[ProjectDirectoryRecord]:
    """Memory Cache: a project's directories (its collection's watched folders)."""
    return projects().directories(query.project_id)


@bp.delete("/delete_project_directory")
@endpoint(scope="admin", query=DirectoryQuery, responses={200: DirectoryAnswer})
@in_their_convention
def delete_project_directory(query: DirectoryQuery) -> ProjectDirectoryRecord:
    """Memory Cache: stop watching a directory; the documents taken from it go."""
    return projects().remove_directory(query.directory_id, current_actor())


@bp.get("/list_project_files/<project_id>")
@endpoint(scope="read", responses={200: FileListAnswer})
def list_project_files(project_id: str) -> Any:
    """Memory Cache: a project's documents, named `<project>/uploads/__path__of__file`."""
    return project_files(integer(project_id))


@in_their_convention
def project_files(project_id: int) -> Any:
    return projects().files(project_id)


def integer(text: str) -> int:
    """A path parameter that must be a project id: malformed, the hub's 422 (FastAPI's
    422 in Memory Cache), as for the query strings."""
    if not text.isdigit() or int(text) > INT64:
        raise InvalidInput(
            "project_id must be a non-negative integer", details={"field": "project_id"}
        )
    return int(text)


@bp.post("/sync_project_files")
@endpoint(scope="write", query=ProjectQuery, responses={200: Outcome})
@in_their_convention
def sync_project_files(query: ProjectQuery) -> dict[str, str]:
    """Memory Cache: compare a project's folders with the disk now."""
    scan = projects().scan(query.project_id)
    if scan.missing:
        return failure(f"Source directory {scan.missing[0]} does not exist")
    return {"status": "ok"}


# ---- ingestion
@bp.post("/check_ingestion_status")
@endpoint(scope="read", query=ProjectQuery, responses={200: IngestionStatusAnswer})
@in_their_convention
def check_ingestion_status(query: ProjectQuery) -> dict[str, Any]:
    """Memory Cache: whether any document of the project is waiting to be indexed."""
    done = projects().ingestion(query.project_id)
    if done.waiting:
        message = f"{done.waiting} of {done.files} files are being ingested"
    else:
        message = f"All {done.files} files are ingested"
    return {"status": "ok", "isIngesting": done.waiting > 0, "message": message}


@bp.post("/ingest_project_files")
@endpoint(scope="write", query=ProjectQuery, responses={200: IngestedAnswer})
@in_their_convention
def ingest_project_files(query: ProjectQuery) -> dict[str, Any]:
    """Memory Cache: take in what changed in the project's folders; indexing goes on in
    the background (check_ingestion_status follows it), so this answers at once."""
    projects().scan(query.project_id)
    done = projects().ingestion(query.project_id)
    if not done.files:
        return {"status": "ok", "message": "No files to ingest: add a directory first"}
    return {"num_files": done.files, "num_fragments": done.fragments}


# ---- search and answers
@bp.post("/vector_db_query")
@endpoint(scope="read", body=ProjectPrompt, responses={200: VectorQueryAnswer})
@in_their_convention
def vector_db_query(body: ProjectPrompt) -> list[dict[str, Any]]:
    """Memory Cache: the passages of the project nearest the prompt, by meaning."""
    collection_id = projects().collection_of(body.project_id)
    if not body.prompt.strip():
        return []  # its client asks at every keystroke, the emptied box too
    hub = current_hub()
    results = hub.search.search(
        body.prompt,
        k=QUERY_RESULTS,
        mode="vector",
        filters=Filters(kinds=["chunk"], collections=[collection_id]),
        highlights=False,
    )
    visible = hub.visibility.visible(current_principal().person, results)
    name = hub.knowledge.get_collection(collection_id).name
    return [query_hit(name, result) for result in visible]


def query_hit(project_name: str, result: SearchResult) -> dict[str, Any]:
    document = result.document
    original = (document.path or document.title or document.id) if document else ""
    return {
        "file_path": file_name(project_name, original),
        "file_content": result.text,
        # Chroma's squared L2 on unit vectors is exactly 2 - 2 cos, the hub's score.
        "distance": max(0.0, 2.0 - 2.0 * result.score),
    }


@bp.post("/rag_ask")
@endpoint(scope="chat", body=ProjectPrompt, responses={200: RagAnswer})
def rag_ask(body: ProjectPrompt) -> dict[str, str | None]:
    """Memory Cache: one question answered by the running chat model from the project's
    documents (no history: its client keeps the chat)."""
    try:
        collection_id = projects().collection_of(body.project_id)
        with compat().asked.asking(body.project_id):
            reply = answer(collection_id, body.prompt)
    except (Unauthorized, Forbidden):
        raise
    except NeurocacheError as exc:
        return {"status": "error", "message": exc.message, "response": None}
    return {"status": "ok", "message": None, "response": reply}


def answer(collection_id: str, prompt: str) -> str:
    """Through the completions of `/v1/chat/completions`, with the project's collection
    as the memory it draws on."""
    completions = current_hub().completions
    request = {
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": current_hub().settings.chat_max_reply_tokens,
        "neurocache": {"collections": [collection_id]},
    }
    reply = completions.complete(completions.prepare(request, None))
    return (reply.get("choices") or [{}])[0].get("message", {}).get("content") or ""


@bp.post("/check_waiting_for_chat_status")
@endpoint(scope="read", query=ProjectQuery, responses={200: WaitingStatusAnswer})
@in_their_convention
def check_waiting_for_chat_status(query: ProjectQuery) -> dict[str, Any]:
    """Memory Cache: whether a rag_ask of this project is being answered."""
    projects().collection_of(query.project_id)
    waiting = compat().asked.waiting(query.project_id)
    message = "Waiting for the model's answer" if waiting else "Not waiting"
    return {"status": "ok", "isWaiting": waiting, "message": message}


# ---- llamafiles: the hub's chat models
def chat_model(filename: str) -> ModelRecord:
    try:
        model = current_hub().models.get(filename)
    except NotFound:
        model = None
    if model is None or not is_llamafile(model):
        raise NotFound("Llamafile not found")
    return model


def success(message: str) -> dict[str, str]:
    return {"status": "success", "message": message}


@bp.get("/list_llamafiles")
@endpoint(scope="read", responses={200: LlamafileList})
def list_llamafiles() -> list[LlamafileInfo]:
    """Memory Cache: the chat models of the catalog and those registered."""
    return [llamafile_info(m) for m in current_hub().models.list() if is_llamafile(m)]


@bp.post("/check_llamafile_status")
@endpoint(scope="read", query=LlamafileQuery, responses={200: LlamafileStatusAnswer})
@in_their_convention
def check_llamafile_status(query: LlamafileQuery) -> LlamafileStatus:
    """Memory Cache: a chat model's state (`idle`: downloaded, not running)."""
    return llamafile_status(chat_model(query.llamafile_filename))


@bp.post("/download_llamafile_by_name")
@endpoint(scope="admin", query=LlamafileQuery, responses={200: Outcome})
@in_their_convention
def download_llamafile_by_name(query: LlamafileQuery) -> dict[str, str]:
    """Memory Cache: start (or resume) downloading a catalog chat model."""
    model = chat_model(query.llamafile_filename)
    current_hub().models.download(model.id, current_actor())
    return success("Llamafile download started")


@bp.post("/start_llamafile")
@endpoint(scope="admin", query=LlamafileQuery, responses={200: Outcome})
@in_their_convention
def start_llamafile(query: LlamafileQuery) -> dict[str, str]:
    """Memory Cache: start a chat model (the one running stops once it answers)."""
    model = chat_model(query.llamafile_filename)
    current_hub().models.start(model.id, current_actor())
    return success("Llamafile started")


@bp.post("/stop_llamafile")
@endpoint(scope="admin", query=LlamafileQuery, responses={200: Outcome})
@in_their_convention
def stop_llamafile(query: LlamafileQuery) -> dict[str, str]:
    """Memory Cache: stop a chat model."""
    model = chat_model(query.llamafile_filename)
    current_hub().models.stop(model.id, current_actor())
    return success("Llamafile stopped")


@bp.delete("/delete_llamafile")
@endpoint(scope="admin", query=LlamafileQuery, responses={200: Outcome})
@in_their_convention
def delete_llamafile(query: LlamafileQuery) -> dict[str, str]:
    """Memory Cache: delete a downloaded chat model's file (a registered one is forgotten)."""
    model = chat_model(query.llamafile_filename)
    current_hub().models.delete(model.id, current_actor())
    return success("Llamafile deleted")


@bp.get("/running_llamafile_info")
@endpoint(scope="read", responses={200: RunningLlamafile})
def running_llamafile_info() -> Response:
    """Memory Cache: the running chat model, or JSON `null` when none runs."""
    running = current_hub().models.running("chat")
    return jsonify(None if running is None else llamafile_info(running).plain())
