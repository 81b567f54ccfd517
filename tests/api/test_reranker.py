"""The reranker's plumbing, with a random-weight cross-encoder GGUF built here (rank
pooling, run by llama.cpp in-process): registered as role `rerank`, chosen by setting,
used per request. Its order is noise — quality is measured with real weights only — so
the tests check that its scores, and nothing else, order the best results."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurocache.app import create_app, hub_of
from neurocache.llm.reranker import LlamaReranker
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.hub import assert_error, bearer
from tests.support.tiny_gguf import write_tiny_reranker

NOTES = [f"Note {i}: the heron by the weir caught fish number {i} at dawn." for i in range(12)]


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory) -> Path:
    return write_tiny_reranker(tmp_path_factory.mktemp("models") / "tiny-rerank.gguf")


def test_the_reranker_scores_pairs_deterministically(tiny_reranker):
    reranker = LlamaReranker(tiny_reranker)
    try:
        scores = reranker.score("heron at dawn", NOTES)
        assert len(scores) == len(NOTES) and len(set(scores)) > 1
        assert reranker.score("heron at dawn", NOTES[:3]) == pytest.approx(scores[:3], 1e-4)
        assert reranker.score("heron", []) == []
    finally:
        reranker.close()


def test_a_reranker_gguf_registers_as_role_rerank_and_does_not_start(client, hub, tiny_reranker):
    owner = bearer(hub.owner_token.value)
    model = client.post("/api/v1/models", json={"path": str(tiny_reranker)}, headers=owner)
    assert model.status_code == 201 and model.json["role"] == "rerank"
    error = assert_error(
        client.post(f"/api/v1/models/{model.json['id']}/start", headers=owner), 409
    )
    assert "reranker" in error["message"] and "setting" in error["message"]


def test_a_chosen_reranker_orders_the_best_results_and_a_request_may_decline(
    tmp_path, tiny_reranker
):
    first = hub_of(create_app(Settings(data_dir=tmp_path), testing=True))
    model_id = first.models.register_local(str(tiny_reranker), Actor("test")).id
    first.close()
    app = create_app(Settings(data_dir=tmp_path, reranker=model_id), testing=True)
    hub, client = hub_of(app), app.test_client()
    owner = bearer(hub.owner_token.value)
    try:
        client.post(
            "/api/v1/memories",
            headers=owner,
            json=[{"kind": "note", "content": text} for text in NOTES],
        )

        def ranked(**options):
            answer = client.post(
                "/api/v1/search",
                headers=owner,
                json={"query": "heron caught fish at dawn", "k": 12, **options},
            )
            assert answer.status_code == 200, answer.json
            return [r["text"] for r in answer.json["results"]]

        plain, reranked = ranked(rerank=False), ranked()
        assert sorted(plain) == sorted(reranked) == sorted(NOTES)
        scores = LlamaReranker(tiny_reranker).score("heron caught fish at dawn", reranked)
        assert scores == sorted(scores, reverse=True)  # the reranker's order, exactly
        assert plain != reranked
    finally:
        hub.close()
