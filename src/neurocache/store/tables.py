"""Tables of the store. Later capabilities add theirs here and by a migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from neurocache.store.threads import place_in_thread
from neurocache.store.types import JSONDict, UTCDateTime, new_id, utcnow

# Named constraints so that migrations can address them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MEMORY_TIERS = ("working", "long_term", "personal_log", "archive")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Meta(Base):
    """Small facts about this store (install id, ...)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    # The first characters of the secret, shown in lists so a person can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONDict)
    owner: Mapped[str] = mapped_column(String(100), default="owner")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    use_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_api_keys_created", "created_at", "id"),)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDict, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDict, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_audit_target", "target_type", "target_id"),)


# Memory kinds that are never embedded nor searched by default: a document's whole text
# would shadow its own chunks; a conversation's memory is only its title.
UNEMBEDDED_KINDS = ("document", "conversation")


class Memory(Base):
    """Every piece of text the hub keeps (design §2)."""

    __tablename__ = "memories"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDict, default=dict)
    owner: Mapped[str] = mapped_column(String(100), default="owner")
    tier: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Its place in a thread of turns (store/threads.py), derived from kind and metadata.
    thread: Mapped[str | None] = mapped_column(String(200), nullable=True)
    position: Mapped[float | None] = mapped_column(Float, nullable=True)
    speaker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # sha256 of where an imported memory came from (a chat export's turn): imported again,
    # it is found, not made twice
    origin_key: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(
            "tier IS NULL OR tier IN ('working', 'long_term', 'personal_log', 'archive')",
            name="tier",
        ),
        Index("ix_memories_kind_created", "kind", "created_at"),
        Index("ix_memories_owner_tier", "owner", "tier"),
        Index("ix_memories_thread_position", "thread", "position"),
    )


@event.listens_for(Memory, "before_insert")
@event.listens_for(Memory, "before_update")
def _place_in_thread(_mapper: Any, _connection: Any, memory: Memory) -> None:
    """Every writer of memories gets the thread columns right, none has to remember to."""
    if memory.created_at is None:
        memory.created_at = utcnow()
    memory.thread, memory.position, memory.speaker = place_in_thread(
        memory.kind, memory.meta, memory.created_at
    )


class Edge(Base):
    __tablename__ = "edges"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(
        ForeignKey("memories.id", ondelete="CASCADE"), index=True
    )
    target_id: Mapped[str] = mapped_column(
        ForeignKey("memories.id", ondelete="CASCADE"), index=True
    )
    relation: Mapped[str] = mapped_column(String(50))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDict, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("source_id", "target_id", "relation"),)


class Model(Base):
    """A model the hub knows beyond its catalog: downloaded, registered, or remote.

    `state` is what is on disk (absent, downloading, installed, failed); whether a model
    server runs is the supervisor's, known only while the hub runs."""

    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    expected_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verified: Mapped[bool] = mapped_column(default=False)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # files pass 2 GiB
    context_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    base_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    api_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="absent")
    # running | stopped: what the owner last asked; a hub starting again honours it
    desired_state: Mapped[str] = mapped_column(
        String(20), default="stopped", server_default="stopped"
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDict, default=dict)
    # team mode: the hub process whose server this is, where it listens, until when
    # (llm/shared.py); the other processes send their requests there
    server_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    server_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    server_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("role IN ('chat', 'embedding', 'rerank')", name="role"),
        CheckConstraint("state IN ('absent', 'downloading', 'installed', 'failed')", name="state"),
    )


class Vector(Base):
    """A memory's embedding, with the embedder that made it: the store holds the vectors,
    the FAISS index files are caches rebuilt from here (design §2)."""

    __tablename__ = "vectors"
    memory_id: Mapped[str] = mapped_column(
        ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True
    )
    embedder: Mapped[str] = mapped_column(String(200), index=True)
    dimension: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Collection(Base):
    """A named knowledge base."""

    __tablename__ = "collections"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Document(Base):
    """A source the hub took in. Its readable text is a memory of kind `document` with the
    same id; its chunks are memories of kind `chunk`, `part_of` it."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True)
    collection_id: Mapped[str | None] = mapped_column(
        ForeignKey("collections.id", ondelete="SET NULL"), nullable=True, index=True
    )
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(20))  # text | html | upload | capture | folder
    mime: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    # sha256 of (caller, Idempotency-Key, part): a retried request finds what it made
    idempotency_key: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'indexing', 'indexed', 'failed')", name="status"),
    )


class Job(Base):
    """Background work that survives a restart: queued and running jobs run again."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # the hub process running it, and until when its claim holds (runtime/jobs.py)
    claimed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"
        ),
    )


class PeriodicClaim(Base):
    """Whose turn a periodic task (maintenance, a folder's scan, backups) is, among hub
    processes sharing a store: the process running it and until when, and when it last
    finished (store/periodic_claims.py)."""

    __tablename__ = "periodic_claims"
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    claimed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WatchedFolder(Base):
    __tablename__ = "watched_folders"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    path: Mapped[str] = mapped_column(Text, unique=True)
    collection_id: Mapped[str | None] = mapped_column(
        ForeignKey("collections.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WatchedFile(Base):
    """What the hub last saw of a file in a watched folder, to notice changes."""

    __tablename__ = "watched_files"
    folder_id: Mapped[str] = mapped_column(
        ForeignKey("watched_folders.id", ondelete="CASCADE"), primary_key=True
    )
    relpath: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    document_id: Mapped[str | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), nullable=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MemoryCacheProject(Base):
    """Memory Cache's integer id of a collection (its client compares ids as numbers and
    keys its chat history by them). The row outlives its collection (`collection_id`
    NULL: the project is removed) and SQLite's AUTOINCREMENT never hands out a past id,
    so no id ever names a second project."""

    __tablename__ = "memory_cache_projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection_id: Mapped[str | None] = mapped_column(
        ForeignKey("collections.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = {"sqlite_autoincrement": True}


class MemoryCacheDirectory(Base):
    """Memory Cache's integer id of a watched folder of a project; kept, as a project's,
    once the folder is no longer watched (`folder_id` NULL: the directory is removed)."""

    __tablename__ = "memory_cache_directories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("memory_cache_projects.id"), index=True)
    folder_id: Mapped[str | None] = mapped_column(
        ForeignKey("watched_folders.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    path: Mapped[str] = mapped_column(Text)  # the folder's, to answer for it once removed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = {"sqlite_autoincrement": True}


class Conversation(Base):
    """A chat. Its title is also a memory of kind `conversation` with the same id (so its
    messages can be `in_session` it). Its history is the chain of `parent_id`s from `head_id`:
    a fork is a new conversation whose head is a message of another, sharing its past."""

    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(100), default="owner")
    collections: Mapped[list[str]] = mapped_column(JSONDict, default=list)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    head_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    short_term: Mapped[bool] = mapped_column(default=True)
    long_term: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Message(Base):
    """A turn: its text is the memory with the same id (kind `message`)."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="complete")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONDict, default=list)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tokens_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_out: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("role IN ('user', 'assistant', 'system')", name="role"),
        CheckConstraint("status IN ('streaming', 'complete', 'stopped', 'failed')", name="status"),
    )


class Agent(Base):
    """An AI agent: a persona with its own model, knowledge and memories (memories owned by
    `agent:<id>`)."""

    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    avatar: Mapped[str | None] = mapped_column(Text, nullable=True)
    persona: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)
    collections: Mapped[list[str]] = mapped_column(JSONDict, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """A named person besides the owner (a hub shared on a LAN or a server): each has their
    own API keys (`api_keys.owner` = `user:<id>`), so the hub knows who said what."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Channel(Base):
    """A Slack-like room of people and agents. Its name is also a memory of kind `channel`
    with the same id (its messages are `in_session` it)."""

    __tablename__ = "channels"
    id: Mapped[str] = mapped_column(ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelMember(Base):
    """`member` is `owner`, `user:<id>` or `agent:<id>`; an agent's `mode` says when it
    speaks: `mention` (when @mentioned) or `auto` (to every message of a person)."""

    __tablename__ = "channel_members"
    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    member: Mapped[str] = mapped_column(String(100), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20), default="mention")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("mode IN ('mention', 'auto')", name="mode"),
        Index("ix_channel_members_member", "member"),
    )


class ChannelMessage(Base):
    """A message in a channel: its text is the memory with the same id (kind
    `channel_message`, owned by its author). `seq` orders a channel's messages and is the
    cursor clients page and catch up by."""

    __tablename__ = "channel_messages"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ForeignKey("memories.id", ondelete="CASCADE"), unique=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(100))
    reply_to: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    mentions: Mapped[list[str]] = mapped_column(JSONDict, default=list)
    status: Mapped[str] = mapped_column(String(20), default="complete")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONDict, default=list)
    # The person's message that set off a chain of agent replies (bounds agent turns).
    trigger_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('streaming', 'complete', 'stopped', 'failed')", name="status"),
        Index("ix_channel_messages_channel_seq", "channel_id", "seq"),
        Index("ix_channel_messages_created_at", "created_at"),
        # A seq is never given twice, even after the newest message is deleted: clients
        # catch up with `after=<seq>`.
        {"sqlite_autoincrement": True},
    )


USAGE_BUCKETS = ("minute", "hour", "day")


class UsageRow(Base):
    """Usage counted per time bucket and per who/what. Every count is added to its minute,
    hour and day rows at once, so a roll-up is never a separate step that can lag or fail;
    old minutes and hours are pruned, bounding the table. Unknown dimensions are ''."""

    __tablename__ = "usage"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(10))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    caller: Mapped[str] = mapped_column(String(100))  # owner | key:<id> | ''
    agent: Mapped[str] = mapped_column(String(36))
    model: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(200))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)  # summed
    latency_ms_max: Mapped[float] = mapped_column(Float, default=0.0)
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint(
            "bucket", "start", "caller", "agent", "model", "endpoint", name="uq_usage_cell"
        ),
        CheckConstraint("bucket IN ('minute', 'hour', 'day')", name="bucket"),
    )


class RateBucket(Base):
    """A token bucket of the rate limiter, saved so that limits survive a restart."""

    __tablename__ = "rate_buckets"
    name: Mapped[str] = mapped_column(String(150), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
