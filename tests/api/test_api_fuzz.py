"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets valid and invalid requests — boundary values, wrong types, NUL bytes,
huge numbers, odd keys — and every answer must be no server error (no 500, and a 502/503
only where the operation declares it), a status the document lists, and a body that
matches the document's schema (the one error body, OpenAI's under `/v1`).

The hub is the real one, in process, with a real tiny llama.cpp model running (so the chat
paths are reached) and one of each resource, whose ids are offered to the generator beside
random ones (random ids alone only ever meet 404). Examples per operation are bounded
(`NEUROCACHE_FUZZ_EXAMPLES`, default 25) so the whole run takes about a minute.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for

EXAMPLES = int(os.environ.get("NEUROCACHE_FUZZ_EXAMPLES", "25"))
# Bad data is refused with schemathesis's usual statuses, or with 413 when the fuzzer makes
# a body past the hub's limit (it once made an 80 MB chat request: refused, as it should be).
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [*REFUSED, "5XX"]}}}
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# A catalog whose one model would download from a port where nothing listens: no request
# the fuzzer makes can leave the machine.
CATALOG = {
    "version": 1,
    "models": [
        {
            "id": "fuzz-chat",
            "name": "Fuzz chat",
            "role": "chat",
            "format": "gguf",
            "url": "http://127.0.0.1:9/fuzz.gguf",
            "size": 1000,
            "license": "MIT",
        }
    ],
}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "catalog.json").write_text(json.dumps(CATALOG))
    (root / "notes").mkdir()
    (root / "notes" / "rivers.md").write_text("# Rivers\n\nThe Danube flows east.\n")
    previous = Path.cwd()
    os.chdir(root / "notes")  # a relative path the fuzzer sends resolves in here
    app = create_app(
        Settings(
            data_dir=root / "data",
            catalog_path=root / "catalog.json",
            download_retries=0,
            watch_interval_s=3600,
            backup_interval_h=0,
            rate_limit_per_minute=0,
            rate_limit_generate_per_minute=0,
            rate_limit_global_per_minute=0,
            chat_max_reply_tokens=16,
            model_health_interval_s=0.5,
            log_level="WARNING",
        ),
        testing=True,
    )
    hub = hub_of(app)
    model = write_tiny_llama(root / "tiny-chat.gguf", n_ctx=2048)
    model_id = hub.models.register_local(str(model), Actor("test")).id
    hub.models.start(model_id)
    assert wait_for(lambda: hub.models.get(model_id).state == "running", timeout=60)
    app.fuzz_ids = _seed(hub, root)
    yield app
    os.chdir(previous)
    hub.close()


def _seed(hub: Any, root: Path) -> dict[str, str]:
    """One of each resource; its id is what a path parameter of that name may be given."""
    actor = Actor("test")
    collection = hub.knowledge.create_collection("notes", "", actor)
    document = hub.knowledge.add_text(
        title="Rivers", body="The Danube flows east.", fmt="text", actor=actor, collection="notes"
    )
    agent = hub.agents.create(actor, name="Scout")
    memory = hub.tiers.create(agent.id, actor, tier="working", content="Saw a heron.")
    conversation = hub.conversations.create(actor, title="Chat")
    channel = hub.channels.create(actor, "owner", name="general")
    user = hub.users.create("ada", actor, "Ada")
    key, _secret = hub.keys.create("spare", ["read"], actor)
    assert hub.jobs.wait_idle(60)
    return {
        "collection_id": collection.id,
        "document_id": document.document.id,
        "job_id": document.job.id,
        "agent_id": agent.id,
        "memory_id": memory.id,
        "conversation_id": conversation.id,
        "channel_id": channel.id,
        "user_id": user.id,
        "key_id": key.id,
    }


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def answered() -> Any:
    """Every status the fuzzed hub answered, counted; kept in test-artifacts/fuzz.json."""
    counts: Counter[int] = Counter()
    yield counts
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fuzz.json").write_text(
        json.dumps(
            {
                "requests": sum(counts.values()),
                "server_errors": sum(n for status, n in counts.items() if status >= 500),
                "by_status": {str(k): v for k, v in sorted(counts.items())},
            },
            indent=1,
        )
    )


@pytest.fixture(scope="module")
def api_schema(fuzzed: Any, answered: Counter[int]) -> Any:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed, config=CONFIG)
    ids = fuzzed.fuzz_ids

    @schema.hook
    def after_call(context: Any, case: Any, response: Any) -> None:
        answered[response.status_code] += 1

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        # Half the time a real resource, so the operation gets past its 404.
        choices = {
            name: st.sampled_from([value, ids[name]]) if name in ids else st.just(value)
            for name, value in (path_parameters or {}).items()
        }
        return st.fixed_dictionaries(choices)

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis names each operation's subtest by rewriting `_nodeid`, which pytest 9
    # no longer keeps under that name.
    request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
def test_every_operation_answers_as_documented(case: Any, fuzzed: Any) -> None:
    owner = hub_of(fuzzed).owner_token.value
    case.call_and_validate(headers={"Authorization": f"Bearer {owner}"}, checks=CHECKS)
