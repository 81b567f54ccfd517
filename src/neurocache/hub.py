"""Every service of one hub, built once. No Flask here: the CLI uses it directly, and
`create_app` wraps it in the web layer."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from neurocache import __version__
from neurocache.access.keys import OWNER, ApiKeys, Principal
from neurocache.access.owner_token import OwnerToken
from neurocache.access.pairing import Pairings
from neurocache.access.users import Users
from neurocache.access.visibility import Visibility
from neurocache.agents.records import AgentRecord
from neurocache.agents.service import Agents
from neurocache.agents.tiers import AgentMemories, ConsolidationRules, model_summarizer
from neurocache.channels.agents import ChannelAgents, ChannelOptions
from neurocache.channels.cache import ChannelCache
from neurocache.channels.cache_redis import RedisChannelCache
from neurocache.channels.messages import ChannelMessages
from neurocache.channels.presence import Presence, RedisPresence
from neurocache.channels.service import Channels
from neurocache.conversations.answering import Answerer, ChatOptions
from neurocache.conversations.history import HotHistory
from neurocache.conversations.history_redis import RedisHotHistory
from neurocache.conversations.service import Conversations
from neurocache.errors import InvalidInput, NotFound
from neurocache.events import EVERY, Event, Events, Publish
from neurocache.knowledge.folders import FolderWatcher
from neurocache.knowledge.histories import HistoryImporter
from neurocache.knowledge.later import IndexLater
from neurocache.knowledge.service import Knowledge
from neurocache.llm.embedder import LlamaEmbedder, RemoteEmbedder
from neurocache.llm.manager import ModelManager
from neurocache.llm.reembed import Reembedder
from neurocache.llm.reranker import LlamaReranker
from neurocache.llm.shared import SharedServers
from neurocache.metering.ratelimit import RateLimiter
from neurocache.metering.ratelimit_redis import RedisRateLimiter
from neurocache.metering.usage import UsageMeter, UsageRetention
from neurocache.operations.backup_schedule import ScheduledBackups
from neurocache.replies.completions import Completions
from neurocache.replies.streaming import SerialQueues
from neurocache.runtime.jobs import Claims, JobQueue, process_id
from neurocache.runtime.maintenance import Maintenance
from neurocache.runtime.parts import Runtime
from neurocache.runtime.periodic_claims import OwnTurns, PeriodicClaims
from neurocache.search.pipeline import Weights
from neurocache.search.service import SearchService
from neurocache.search.vectors import IndexPolicy
from neurocache.settings import Settings, ensure_private_dir
from neurocache.store import Database
from neurocache.store.audit import AuditLog, record_settings
from neurocache.store.graph import MemoryGraph

log = logging.getLogger("neurocache.hub")


def written(event: Event) -> tuple[str, str]:
    """memory.written's (memory id, text)."""
    return event.payload["memory_id"], event.payload["text"]


def _to_clients(publish: Publish) -> Callable[[Event], None]:
    """A subscriber that forwards to `publish` the events that name a room."""

    def forward(event: Event) -> None:
        if event.room is not None:
            publish(event.name, event.payload, event.room)

    return forward


class Hub:
    def __init__(self, settings: Settings, publish: Publish | None = None) -> None:
        """`publish`: where the events clients should see go (the web layer's Socket.IO
        emitter): those that name a room. The others are the hub's own (events.py)."""
        self.settings = settings
        self.events = Events()
        if publish is not None:
            self.events.subscribe(EVERY, _to_clients(publish))
        # Services publish through this attribute (tests swap it to watch what they say).
        self.publish: Publish = self.events.publish
        self.started_at = time.monotonic()
        # set by the desktop shell: what `POST /api/v1/desktop/focus` does (None: no window)
        self.come_forward: Callable[[], None] | None = None
        ensure_private_dir(settings.data_dir)
        self.runtime = Runtime()
        self.threads = self.runtime.threads  # every thread of this hub's starts there
        self.process_id = process_id()  # this process among those sharing a store
        self._build_store_access_and_metering(settings)
        self._build_models_and_search(settings)
        self._build_knowledge(settings)
        self._build_conversations(settings)
        self._build_people_and_operations(settings)
        self._build_agents_and_channels(settings)
        self._follow_events()
        self._embedder: LlamaEmbedder | RemoteEmbedder | None = None
        self._reranker: LlamaReranker | None = None
        if settings.reranker is not None:
            self.search.pipeline.reranker = self._rerank
        self._reembedder: Reembedder | None = None
        self._embedder_lock = threading.Lock()
        self._register_background_work()

    def _follow_events(self) -> None:
        """The services that follow another's changes (docs/DESIGN.md lists the events)."""
        follow = self.events.subscribe
        follow("reply.finished", self._agent_answered)
        follow("memories.deleted", lambda e: self.search.remove(e.payload["rowids"]))
        follow("vectors.stored", lambda e: self.knowledge.index_stored(e.payload["memory_ids"]))
        follow("memory.written", lambda e: self.index_later.add(*written(e)))
        follow("backup.starting", lambda _e: self.search.save())

    def _build_store_access_and_metering(self, settings: Settings) -> None:
        self.db = Database(settings.effective_database_url, settings.store_busy_timeout_s)
        self.db.migrate()
        self.keys = ApiKeys(self.db, lambda *event: self.publish(*event))
        self.pairings = Pairings(self.keys)
        self.audit = AuditLog(self.db)
        self.usage = UsageMeter(
            self.db,
            UsageRetention(
                timedelta(hours=settings.usage_minutes_kept_h),
                timedelta(days=settings.usage_hours_kept_days),
                timedelta(days=settings.usage_days_kept_days),
            ),
            threads=self.threads,
        )
        self.limiter = self._limiter(settings)
        # processes sharing a store take turns at each periodic task (once per interval)
        self.periodic = (
            PeriodicClaims(
                self.db,
                lease_s=settings.job_lease_s,
                worker_id=self.process_id,
                threads=self.threads,
            )
            if self.shares_store
            else OwnTurns()
        )
        self.owner_token = OwnerToken.load_or_create(settings.data_dir)

    def _build_models_and_search(self, settings: Settings) -> None:
        self.models = ModelManager(
            settings,
            self.db,
            lambda *event: self.publish(*event),
            count_usage=self.usage.add,
            threads=self.threads,
            # processes sharing a PostgreSQL store run each model's server once
            shared=SharedServers(self.db, self.process_id, enabled=self.shares_store),
        )
        self.search = SearchService(
            self.db,
            settings.data_dir / "indexes",
            settings.embedder,
            lambda: self.embedder,
            IndexPolicy(
                settings.vector_exact_limit, settings.vector_nprobe, settings.vector_ef_search
            ),
            settings.index_save_interval_s,
            Weights(reranked=settings.rerank_candidates),
            embed_context=settings.embed_turn_context,
            threads=self.threads,
            vector_backend=settings.vector_backend,
        )

    def _build_knowledge(self, settings: Settings) -> None:
        self.jobs = JobQueue(
            self.db,
            lambda *event: self.publish(*event),
            workers=settings.ingest_workers,
            threads=self.threads,
            # processes sharing a PostgreSQL store claim each job for a lease
            claims=Claims(
                shared=self.shares_store, lease_s=settings.job_lease_s, worker_id=self.process_id
            ),
        )
        self.knowledge = Knowledge(
            settings,
            self.db,
            self.search,
            self.jobs,
            lambda: self.embedder,
            count_usage=self.usage.add,
        )
        self.histories = HistoryImporter(self.db, self.knowledge.remember)
        self.folders = FolderWatcher(
            self.db,
            self.knowledge,
            interval_s=settings.watch_interval_s,
            max_file_bytes=settings.watch_max_file_bytes,
            claims=self.periodic,
            protected=(
                settings.data_dir,
                settings.effective_backup_dir,
                settings.effective_models_dir,
            ),
            threads=self.threads,
        )

    def _build_conversations(self, settings: Settings) -> None:
        self.graph = MemoryGraph(self.db)
        self.agents = Agents(
            self.db, self.knowledge.collection_id, self._check_chat_model, self._publish
        )
        self.conversations = Conversations(
            self.db,
            self.knowledge.collection_id,
            self._check_chat_model,
            self.agents.get,
            self._publish,
        )
        self.answers = Answerer(
            self.conversations,
            self.search,
            self.models.chat_backend,
            self.knowledge.remember,
            lambda *event: self.publish(*event),
            ChatOptions(
                settings.chat_max_reply_tokens,
                settings.chat_temperature,
                settings.chat_sources,
                settings.chat_recalled_turns,
                settings.chat_history_turns,
                settings.chat_workers,
            ),
            self._hot_history(settings),
            self._agent_or_nothing,
            threads=self.threads,
        )
        self.completions = Completions(
            self.models.chat_backend,
            lambda question, collections, k: self.search.passages(
                question, [self.knowledge.collection_id(c) for c in collections or []] or None, k
            ),
            settings.chat_sources,
        )

    def _build_people_and_operations(self, settings: Settings) -> None:
        self.users = Users(self.db)
        # several processes share who is online through Redis; one keeps it in memory
        self.presence: Presence | RedisPresence = (
            RedisPresence(settings.redis_url, self.process_id, self.threads)
            if settings.redis_url
            else Presence()
        )
        self.visibility = Visibility(self.db)
        self.backups = ScheduledBackups(
            settings,
            lambda *event: self.publish(*event),
            threads=self.threads,
            claims=self.periodic,
        )

    def _build_agents_and_channels(self, settings: Settings) -> None:
        publish = lambda *event: self.publish(*event)  # noqa: E731 (tests swap self.publish)
        self.index_later = IndexLater(self.knowledge.remember, self.threads)
        self.tiers = AgentMemories(
            self.db,
            self.graph,
            self.search,
            self.agents.get,
            self.knowledge.remember,
            publish,
            ConsolidationRules(settings.agent_working_max_age_s, settings.agent_summary_batch),
            model_summarizer(self.models.chat_backend),
        )
        self.channels = Channels(self.db, publish)
        self.channel_messages = ChannelMessages(
            self.db,
            self.channels,
            self._channel_cache(settings),
            publish,
        )
        self._speakers = self.threads.pool("agent", settings.chat_workers)
        self._turns = SerialQueues(self._speakers)
        self.channel_agents = ChannelAgents(
            self.channels,
            self.channel_messages,
            self.agents,
            self.tiers,
            self.search.passages,
            self.models.chat_backend,
            publish,
            self._turns,
            self.visibility,
            ChannelOptions(
                settings.channel_agent_turns,
                settings.chat_max_reply_tokens,
                settings.chat_temperature,
                settings.chat_sources,
                settings.agent_memories_recalled,
                settings.chat_history_turns,
            ),
        )
        self.maintenance = Maintenance(
            interval_s=settings.maintenance_interval_s,
            retention_days=settings.channel_retention_days,
            agent_ids=lambda: [a for a in self.agents.ids()],
            consolidate=self.tiers.consolidate,
            delete_messages_before=self.channel_messages.delete_older_than,
            tasks={
                "usage_rows_pruned": self.usage.prune,
                "audit_entries_deleted": self._prune_audit,
            },
            threads=self.threads,
            claims=self.periodic,
        )

    @property
    def shares_store(self) -> bool:
        """Whether other hub processes may write this store (PostgreSQL: team mode). The
        caches of recent turns and messages then live in Redis, shared by every process
        (or are off without Redis: a cache of one process would miss the others' writes;
        docs/decisions/0013-team-scale.md)."""
        return self.db.sql.postgresql

    def _hot_history(self, settings: Settings) -> HotHistory | RedisHotHistory:
        """In this process; in Redis when processes share the store (each one's writes
        must reach the others' reads); none when they share a store but no Redis."""
        active, idle = settings.chat_cache_active_s, settings.chat_cache_idle_s
        if not self.shares_store:
            return HotHistory(active_ttl_s=active, idle_ttl_s=idle)
        if settings.redis_url:
            return RedisHotHistory(settings.redis_url, active_ttl_s=active, idle_ttl_s=idle)
        return HotHistory(active_ttl_s=0, idle_ttl_s=0)

    def _channel_cache(self, settings: Settings) -> ChannelCache | RedisChannelCache:
        """As the hot history: here, in Redis for processes sharing a store, else none."""
        if not self.shares_store:
            return ChannelCache(settings.channel_hot_messages)
        if settings.redis_url:
            return RedisChannelCache(
                settings.redis_url,
                settings.channel_hot_messages,
                active_ttl_s=settings.chat_cache_active_s,
                idle_ttl_s=settings.chat_cache_idle_s,
            )
        return ChannelCache(0)

    def _limiter(self, settings: Settings) -> RateLimiter | RedisRateLimiter:
        own = RateLimiter(self.db, threads=self.threads)
        if settings.effective_rate_limit_redis_url:
            return RedisRateLimiter(settings.effective_rate_limit_redis_url, fallback=own)
        return own

    def _prune_audit(self, now: datetime) -> int:
        days = self.settings.audit_retention_days
        return self.audit.delete_before(now - timedelta(days=days)) if days > 0 else 0

    def _publish(self, name: str, payload: dict[str, Any], room: str | None = None) -> None:
        """Through `self.publish` as it is at the time (tests swap it to watch)."""
        self.publish(name, payload, room)

    def _agent_answered(self, event: Event) -> None:
        """A conversation's agent keeps the exchange in its working memory."""
        turn = event.payload
        self.tiers.record_turn(
            turn["agent_id"],
            turn["where"],
            turn["question"],
            turn["reply"],
            source={"conversation_id": turn["conversation_id"]},
        )

    @property
    def embedder(self) -> LlamaEmbedder | RemoteEmbedder:
        """The active embedder (the `embedder` setting), loaded on first use."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = self.models.embedder_for(
                    self.settings.embedder, self.settings.embedder_threads
                )
            return self._embedder

    def start_background_work(self) -> None:
        """What a serving hub does on its own (a CLI command that opens the store does not):
        resume downloads; re-embed what the active embedder did not embed."""
        record_settings(self.db, self.settings)  # a serving hub's settings, audited
        if (
            self.db.engine.dialect.name != "sqlite"
            and not self.settings.effective_rate_limit_redis_url
        ):
            log.warning(
                "rate limits are kept per hub process: several hubs on one "
                "PostgreSQL store each allow the whole limit (set "
                "redis_url to share them)"
            )
        self.models.resume_downloads()
        self.models.resume_running()
        self._reembedder = Reembedder(
            self.db,
            self.settings.embedder,
            lambda: self.embedder,
            lambda *event: self.publish(*event),
            inputs=self.search.embedding_inputs,
            threads=self.threads,
        )
        self._reembedder.start()
        self.conversations.fail_unfinished()
        self.channel_messages.fail_unfinished()
        self.knowledge.repair()
        self.runtime.start()

    def rerank_wanted(self, asked: bool | None) -> bool:
        """A request's own choice, else the `rerank` setting (no reranker: never)."""
        if self.settings.reranker is None:
            return False
        return asked if asked is not None else self.settings.rerank

    def _rerank(self, query: str, passages: list[str]) -> list[float]:
        """The chosen reranker's scores, loaded on first use."""
        with self._embedder_lock:
            if self._reranker is None:
                self._reranker = self.models.reranker_for(
                    self.settings.reranker or "", self.settings.embedder_threads
                )
        return self._reranker.score(query, passages)

    def authenticate(self, token: str | None) -> Principal | None:
        """The owner for the owner's token, a key's principal for a live key, else None."""
        if not token:
            return None
        if self.owner_token.matches(token):
            return OWNER
        return self.keys.authenticate(token)

    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "data_dir": str(self.settings.data_dir),
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "pid": os.getpid(),  # which hub process answered (team mode runs several)
            "process": {"pid": os.getpid(), "id": self.jobs.claims.worker_id},
            "store": {
                "backend": self.db.engine.dialect.name,
                "schema_revision": self.db.current_revision(),
                "size_bytes": self.db.file_size(),
                "memories": self.db.memory_count(),
            },
            "indexes": {"vectors": self.search.status()},
            "embedder": self._embedder_status(),
        }

    def _embedder_status(self) -> dict[str, Any]:
        loaded = self._embedder
        if loaded is None:
            return {"name": self.settings.embedder, "loaded": False}
        return {"name": loaded.name, "loaded": True, "dimension": loaded.dimension}

    def _agent_or_nothing(self, agent_id: str) -> AgentRecord | None:
        try:
            return self.agents.get(agent_id)
        except NotFound:  # deleted since: the conversation goes on without it
            return None

    def _check_chat_model(self, model_id: str) -> None:
        if self.models.get(model_id).role != "chat":
            raise InvalidInput(f"{model_id} is not a chat model", details={"field": "model"})

    def close(self) -> None:
        """Every part of the hub's work stopped, the last started first (runtime/parts.py)."""
        self.runtime.stop()

    def _register_background_work(self) -> None:
        """What runs on its own, in the order it starts; it stops in the reverse order:
        the schedules and the reply pools before the queues they feed, those before the
        indexes and model servers they use, the store last."""
        add = self.runtime.add
        add("store", stop=self.db.close)
        add("rate limits", start=self.limiter.start, stop=self.limiter.close)
        add("usage", start=self.usage.start, stop=self.usage.close)
        add("key uses", stop=self.keys.flush)
        add("model servers", stop=self.models.close)
        add("shared model servers", start=self.models.start_sharing, stop=self.models.stop_sharing)
        add("embedder and reranker", stop=self._close_embedders)
        add("search", stop=self.search.close)
        add("re-embedding", stop=self._stop_reembedding)
        add("ingestion jobs", start=self.jobs.start, stop=self.jobs.stop)
        add("watched folders", start=self.folders.start, stop=self.folders.stop)
        add("indexing later", stop=self.index_later.close)
        add("answers", stop=self.answers.close)
        add("agent speakers", stop=lambda: self._speakers.shutdown(wait=True))
        add("agent turns", stop=self._turns.close)
        add("maintenance", start=self.maintenance.start, stop=self.maintenance.stop)
        add("backups", start=self.backups.start, stop=self.backups.stop)
        if isinstance(self.presence, RedisPresence):  # its heartbeat: its sockets count
            add("presence", start=self.presence.start, stop=self.presence.stop)

    def _close_embedders(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
        if self._reranker is not None:
            self._reranker.close()

    def _stop_reembedding(self) -> None:
        if self._reembedder is not None:
            self._reembedder.stop()
