"""The hub's one settings object.

Each value comes from the first layer that sets it: CLI flags → `NEUROCACHE_*` environment →
`config.toml` in the data dir → the default below. Every field carries its help text in
`description`; `docs/settings.md` documents each one (a test checks).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "NEUROCACHE_"
CONFIG_FILE_NAME = "config.toml"
RUNTIME_FILE = "hub.json"  # written by a serving hub: where it listens, for the CLI

StrList = Annotated[list[str], NoDecode]


def ensure_private_dir(path: Path) -> Path:
    """The data dir holds every memory: when the hub creates it, only its user may enter."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)  # mkdir's mode is cut by the umask
    return path


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("neurocache", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the hub keeps its database, indexes, logs and models "
        "(default: the per-user data directory).",
    )
    host: str = Field(
        "127.0.0.1",
        description="Address the hub listens on. Keep the loopback default unless "
        "the hub is shared on a network.",
    )
    port: int = Field(
        4444, ge=0, le=65535, description="TCP port the hub listens on; 0 picks a free one."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store (e.g. postgresql+psycopg://...); "
        "default: SQLite file `neurocache.db` in the data dir.",
    )
    vector_backend: Literal["faiss", "pgvector"] = Field(
        "faiss",
        description="Where vectors are searched: `faiss` (an index file per hub process, "
        "the default) or `pgvector` (in the PostgreSQL store itself, so every hub "
        "process sees each write at once: team mode; needs database_url on PostgreSQL "
        "with the pgvector extension).",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL (redis://host:6379/0) shared by several hub processes: "
        "Socket.IO events reach the clients of every process, and rate limits, presence "
        "and the hot caches of a shared store are shared. Default: none (one process).",
    )
    store_busy_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="How long a write waits for another to finish with a SQLite store "
        "before it is given up (a request answers 503, a job runs again).",
    )
    allowed_hosts: StrList = Field(
        default_factory=list,
        description="Extra host names (besides 127.0.0.1, localhost and [::1]) that "
        "requests may address the hub by; comma-separated in the environment.",
    )
    public_url: str | None = Field(
        None,
        description="The address clients reach the hub at when a load balancer is in "
        "front of its processes (http://host:port): requests addressed to it are the "
        "hub's own. Default: none (clients reach the process itself).",
    )
    allowed_origins: StrList = Field(
        default_factory=list,
        description="Extra web origins (scheme://host[:port]) allowed to make "
        "cross-origin requests; comma-separated in the environment.",
    )
    allow_extension_origins: bool = Field(
        True,
        description="Allow cross-origin requests from browser extensions "
        "(chrome-extension://, moz-extension://); they still need an API key.",
    )
    max_request_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest request body accepted (bigger → 413)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Level of the hub's log (console and file)."
    )
    log_file_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Size at which `logs/hub.log` is rotated."
    )
    log_file_count: int = Field(5, ge=1, description="How many rotated log files are kept.")

    catalog_path: Path | None = Field(
        None,
        description="A JSON model catalog to use instead of the one shipped in the package.",
    )
    models_dir: Path | None = Field(
        None, description="Where downloaded models are kept (default: `models/` in the data dir)."
    )
    max_concurrent_downloads: int = Field(
        2, ge=1, le=8, description="How many model downloads run at once; more wait in a queue."
    )
    download_retries: int = Field(
        5,
        ge=0,
        le=50,
        description="How many times a broken download is retried (with growing waits) "
        "before it fails.",
    )
    model_start_timeout_s: float = Field(
        120.0, gt=0, description="How long a model server may take to become ready."
    )
    model_health_interval_s: float = Field(
        5.0, gt=0, description="How often a running model server is health-checked."
    )
    model_restart_wait_s: float = Field(
        30.0,
        ge=0,
        le=600,
        description="How long a request for a model that is starting or restarting waits "
        "for it before it is refused (503).",
    )
    model_max_restarts: int = Field(
        5,
        ge=0,
        description="Crashes in a row after which a model server is given up on (state `failed`).",
    )
    embedder: str = Field(
        "builtin",
        description="`builtin` (all-MiniLM-L6-v2, shipped, no download) or the id of an "
        "embedding model: a local GGUF runs in-process, a remote one through its server.",
    )
    embedder_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Parallel single-thread llama.cpp contexts of an in-process embedder.",
    )
    embed_turn_context: bool = Field(
        True,
        description="Embed each turn of a thread with its speaker and the turn it replies "
        "to (a short answer means little alone); changing it re-embeds nothing already "
        "embedded.",
    )
    reranker: str | None = Field(
        None,
        description="The id of a reranker model (role `rerank`: a cross-encoder GGUF, run "
        "in-process) that orders the best search results again; default: none.",
    )
    rerank: bool = Field(
        True,
        description="With a `reranker` chosen, rerank every search unless the request says "
        '`"rerank": false` (and with this false, only those that say true).',
    )
    rerank_candidates: int = Field(
        30, ge=2, le=200, description="How many of the best results the reranker orders again."
    )
    chunk_tokens: int = Field(
        200, ge=16, le=254, description="Chunk size, in the embedder's tokens."
    )
    chunk_overlap_tokens: int = Field(
        30, ge=0, le=128, description="Tokens each chunk shares with the one before it."
    )
    job_lease_s: float = Field(
        60.0,
        ge=5,
        le=3600,
        description="How long a hub process's claim on a background job holds between its "
        "progress reports, when several processes share a PostgreSQL store: a process "
        "killed mid-job leaves the job to another after this.",
    )
    ingest_workers: int = Field(
        2, ge=1, le=16, description="Background jobs (ingestion) that run at once."
    )
    vector_exact_limit: int = Field(
        50_000,
        ge=1,
        description="Up to this many vectors search is exact; above, an inverted-list index.",
    )
    vector_nprobe: int = Field(
        64, ge=1, le=4096, description="Lists an inverted-list vector search visits."
    )
    vector_ef_search: int = Field(
        400,
        ge=10,
        le=1000,
        description="Candidates a pgvector (HNSW) search keeps: more is slower and finds "
        "more of the true nearest neighbours.",
    )
    index_save_interval_s: float = Field(
        60.0, ge=0, description="Least time between two saves of the vector index to disk."
    )
    watch_interval_s: float = Field(
        10.0, gt=0, description="How often watched folders are checked for changes."
    )
    watch_max_file_bytes: int = Field(
        50 * 1024 * 1024,
        gt=0,
        description="Files in watched folders larger than this are passed over.",
    )
    chat_max_reply_tokens: int = Field(
        512, ge=16, le=32768, description="The longest reply a conversation asks of the model."
    )
    chat_temperature: float = Field(
        0.7, ge=0, le=2, description="Sampling temperature of conversation replies."
    )
    chat_sources: int = Field(6, ge=0, le=50, description="Passages retrieved for each question.")
    chat_recalled_turns: int = Field(
        3, ge=0, le=20, description="Turns of earlier conversations recalled into a prompt."
    )
    chat_history_turns: int = Field(
        20, ge=0, le=500, description="Recent turns of a conversation offered to the model."
    )
    chat_workers: int = Field(4, ge=1, le=64, description="Replies that can be written at once.")
    chat_cache_active_s: float = Field(
        24 * 3600, gt=0, description="How long an active conversation stays in the hot cache."
    )
    chat_cache_idle_s: float = Field(
        3600, gt=0, description="How long a conversation only read stays in the hot cache."
    )
    channel_agent_turns: int = Field(
        3,
        ge=0,
        le=50,
        description="Agent replies one person's message may set off in a channel, agents "
        "answering each other included (so agents cannot loop).",
    )
    channel_hot_messages: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Newest messages of each active channel kept in memory (the store "
        "always has them all).",
    )
    channel_retention_days: float = Field(
        0,
        ge=0,
        description="Channel messages older than this many days are deleted, with their "
        "index entries, by the scheduled maintenance; 0 keeps them for ever.",
    )
    agent_working_max_age_s: float = Field(
        24 * 3600,
        gt=0,
        description="Agents' working memories older than this are consolidated into a "
        "long-term summary and moved to the archive.",
    )
    agent_summary_batch: int = Field(
        20, ge=1, le=500, description="Working memories summarized together at most."
    )
    agent_memories_recalled: int = Field(
        3,
        ge=0,
        le=50,
        description="An agent's own memories (working, long-term, personal log) given to it "
        "with each message it answers.",
    )
    maintenance_interval_s: float = Field(
        600,
        gt=0,
        description="How often memory consolidation and message retention run.",
    )
    rate_limit_generate_per_minute: int = Field(
        30,
        ge=0,
        description="Requests per minute each API key may make to generating and embedding "
        "endpoints (chat completions, embeddings, conversation and channel messages, channel "
        "query); 0 means no limit.",
    )
    rate_limit_per_minute: int = Field(
        600,
        ge=0,
        description="Requests per minute each API key may make to every other endpoint; "
        "0 means no limit.",
    )
    rate_limit_global_per_minute: int = Field(
        10_000,
        ge=0,
        description="Requests per minute the whole hub accepts from API keys together; "
        "0 means no limit.",
    )
    rate_limit_redis_url: str | None = Field(
        None,
        description="Redis URL (redis://host:6379/0) to keep rate limits in, shared by every "
        "hub process using it; default: redis_url, else each hub keeps its own, saved in "
        "its store.",
    )
    rate_limit_owner: bool = Field(
        False,
        description="Apply the per-key limits to the owner's browser session too.",
    )
    usage_minutes_kept_h: float = Field(
        48, gt=0, description="Hours of per-minute usage kept before only hourly sums remain."
    )
    usage_hours_kept_days: float = Field(
        90, gt=0, description="Days of per-hour usage kept before only daily sums remain."
    )
    usage_days_kept_days: float = Field(1825, gt=0, description="Days of per-day usage kept.")
    audit_retention_days: float = Field(
        0,
        ge=0,
        description="Audit entries older than this many days are deleted by the scheduled "
        "maintenance; 0 keeps them for ever.",
    )
    backup_interval_h: float = Field(
        24,
        ge=0,
        description="Hours between scheduled backups while the hub runs; 0 turns them off.",
    )
    backup_keep: int = Field(7, ge=1, description="Scheduled backups kept; older ones are deleted.")
    backup_dir: Path | None = Field(
        None,
        description="Where scheduled backups are written (default: `backups/` in "
        "the data dir; better: another disk).",
    )
    gpu_layers: int = Field(
        -1,
        ge=-1,
        description="Layers to offload to a GPU when one is found: -1 all, 0 none (CPU only).",
    )
    memory_cache_compat: bool = Field(
        False,
        description="Also answer the API that Memory Cache's browser client calls "
        "(`/api/v1/list_projects`, `rag_ask`, ...: projects are collections, their "
        "directories watched folders), in that client's shapes and error convention.",
    )
    static_client_dir: Path | None = Field(
        None,
        description="Serve another static client at `/`, e.g. Memory Cache's browser "
        "client's `dist/`; signed in like ours (the login link or its token). The hub's "
        "own client stays at `/app/`. Default: none (ours at `/`).",
    )

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """`a,b` and `["a", "b"]` and `["a,b"]` all mean two entries."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return [p.strip() for v in value for p in str(v).split(",") if p.strip()]
        return value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("static_client_dir", mode="after")
    @classmethod
    def _a_client_folder(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        folder = value.expanduser().resolve()
        if not (folder / "index.html").is_file():
            raise ValueError(f"{folder} holds no index.html: give a built client's folder")
        return folder

    @model_validator(mode="after")
    def _pgvector_needs_postgresql(self) -> Settings:
        if self.vector_backend == "pgvector" and not (self.database_url or "").startswith(
            "postgresql"
        ):
            raise ValueError(
                "vector_backend = pgvector searches vectors in a PostgreSQL store: set "
                "database_url to one (postgresql+psycopg://...)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, ConfigFileSource(settings_cls, init_settings)

    @property
    def config_file(self) -> Path:
        return self.data_dir / CONFIG_FILE_NAME

    @property
    def effective_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def effective_backup_dir(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def effective_rate_limit_redis_url(self) -> str | None:
        return self.rate_limit_redis_url or self.redis_url

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'neurocache.db'}"


class ConfigFileSource(PydanticBaseSettingsSource):
    """Reads `config.toml` from the data dir chosen by the higher layers."""

    def __init__(self, settings_cls: type[BaseSettings], init_settings: Any) -> None:
        super().__init__(settings_cls)
        self._init_kwargs: Mapping[str, Any] = getattr(init_settings, "init_kwargs", {})

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self().get(field_name), field_name, False  # pragma: no cover - unused hook

    def __call__(self) -> dict[str, Any]:
        data_dir = self._init_kwargs.get("data_dir") or environment().get("data_dir")
        path = Path(data_dir or default_data_dir()).expanduser() / CONFIG_FILE_NAME
        return read_config_file(path)


def environment() -> dict[str, str]:
    """The NEUROCACHE_* variables by setting name, matched without regard to case, as
    pydantic-settings matches them."""
    prefix = ENV_PREFIX.lower()
    return {
        name.lower().removeprefix(prefix): value
        for name, value in os.environ.items()
        if name.lower().startswith(prefix)
    }


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    values = {key.replace("-", "_"): value for key, value in values.items()}
    if "data_dir" in values:
        # The file lives in the data dir: it cannot also choose it.
        raise ValueError(
            f"{path}: data_dir cannot be set in the config file of a data dir; "
            "use --data-dir or NEUROCACHE_DATA_DIR"
        )
    return values


def load_settings(flags: Mapping[str, Any] | None = None) -> Settings:
    """Settings from every layer; `flags` are the CLI's (None values are ignored)."""
    given = {name: value for name, value in (flags or {}).items() if value is not None}
    return Settings(**given)


def setting_sources(settings: Settings, flags: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Which layer each effective value came from: flag, env, file or default."""
    flags = {name: value for name, value in (flags or {}).items() if value is not None}
    from_file = read_config_file(settings.config_file)
    from_env = environment()
    sources = {}
    for name in Settings.model_fields:
        if name in flags:
            sources[name] = "flag"
        elif name in from_env:
            sources[name] = "env"
        elif name in from_file:
            sources[name] = "file"
        else:
            sources[name] = "default"
    return sources
