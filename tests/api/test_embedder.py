"""The built-in embedder: agreement with a reference implementation of all-MiniLM-L6-v2,
and no input that can bring the hub down."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from build_scripts.convert_minilm import source_dir
from neurocache.errors import InvalidInput, Unavailable
from neurocache.llm.embedder import BUILTIN_MODEL, BUILTIN_TOKENIZER, LlamaEmbedder
from tests.support.minilm_reference import ReferenceMiniLM

SENTENCES = [
    "The hub keeps what you read and answers from it.",
    "Where did I read about vector databases last week?",
    "Café crème à Paris — naïve résumé, Ærøskøbing, São Paulo",
    "Привет, как дела? Γειά σου κόσμε. مرحبا بالعالم",  # noqa: RUF001 - non-Latin on purpose
    "日本語のテキストも埋め込めます。中文也可以。한국어도 됩니다.",
    "def embed(texts): return [model(t) for t in texts]  # code, too",
    "[CLS] literal special tokens [SEP] in the text [MASK]",
    "emoji 🎉🚀 and symbols ∑∫√ ≠ ≤",
    "UPPER lower MiXeD 12345 3.14159 1e-9 $100 50% #tag @user",
    " ".join(f"word{i} is part of a very long passage" for i in range(120)),  # > 256 tokens
    "x" * 5000,  # one over-long word
    "",
]


@pytest.fixture(scope="module")
def embedder():
    model = LlamaEmbedder(BUILTIN_MODEL, tokenizer_path=BUILTIN_TOKENIZER)
    yield model
    model.close()


@pytest.fixture(scope="module")
def reference():
    return ReferenceMiniLM(source_dir())


def test_agrees_with_the_reference_implementation(embedder, reference):
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    cosines = [
        float(reference.embed(text) @ vector)
        for text, vector in zip(SENTENCES, vectors, strict=True)
    ]
    print("cosine to reference:", [round(c, 6) for c in cosines])
    assert min(cosines) >= 0.999


def test_tokenization_matches_the_reference_tokenizer(embedder, reference):
    for text in SENTENCES:
        assert embedder.tokens(text) == reference.token_ids(text), text


def test_without_its_tokenizer_llama_cpp_tokenizes_nearly_the_same(reference):
    """Any GGUF embedding model works with llama.cpp's own tokenizer; for MiniLM that one
    agrees with the published tokenizer except on Hangul (llama.cpp drops its vowels),
    which is why the built-in embedder ships and uses the published one."""
    plain = LlamaEmbedder(BUILTIN_MODEL, contexts=1)
    try:
        for text in SENTENCES:
            if not any("\uac00" <= ch <= "\ud7af" for ch in text):
                assert plain.tokens(text) == reference.token_ids(text), text
        assert plain.tokens("한국어") != reference.token_ids("한국어")
    finally:
        plain.close()


def test_long_text_is_cut_to_256_tokens_with_its_final_sep(embedder):
    tokens = embedder.tokens("word " * 2000)
    assert len(tokens) == 256 and tokens[0] == 101 and tokens[-1] == 102


def test_vectors_are_unit_length_and_the_same_alone_or_batched(embedder):
    batched = embedder.embed(SENTENCES)
    alone = np.vstack([embedder.embed([text]) for text in SENTENCES])
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    # batches change the order of float sums a little, never the meaning
    assert (batched * alone).sum(axis=1).min() > 0.9999


def test_meaning_is_captured(embedder):
    cat, kitten, invoice = embedder.embed(
        ["a cat sleeps on the sofa", "a kitten naps on a couch", "the invoice is due on Friday"]
    )
    assert cat @ kitten > cat @ invoice + 0.3


def random_text(rng: random.Random) -> str:
    pools = [
        lambda: "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 300))),
        lambda: "".join(rng.choice("[]CLSEPMASKUN#▁ \n\t\x00") for _ in range(rng.randint(0, 500))),
        lambda: " ".join(
            rng.choice(["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "##ing"])
            for _ in range(rng.randint(0, 400))
        ),
        lambda: rng.choice(["", " ", "\n" * 1000, "\x00" * 100, "a" * rng.randint(0, 20000)]),
        lambda: "".join(rng.choice("日本語中文한국어🎉") for _ in range(rng.randint(0, 3000))),
    ]
    return rng.choice(pools)()


def test_no_input_brings_the_process_down(embedder):
    """Odd inputs, in odd batches: llama.cpp aborts the whole process on a bad batch, so
    surviving this test is the assertion (plus sane vectors)."""
    rng = random.Random(1234)
    for _ in range(30):
        texts = [random_text(rng) for _ in range(rng.randint(1, 12))]
        vectors = embedder.embed(texts)
        assert vectors.shape == (len(texts), 384)
        assert np.isfinite(vectors).all()
    assert embedder.embed([]).shape == (0, 384)


def test_many_threads_can_embed_at_once(embedder):
    expected = embedder.embed(SENTENCES[:4])
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                assert np.allclose(embedder.embed(SENTENCES[:4]), expected, atol=1e-4)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(Unavailable, match=r"build_scripts/convert_minilm\.py"):
        LlamaEmbedder(tmp_path / "absent.gguf")


def test_the_hub_embeds_with_no_download(hub, admin_headers, client):
    assert client.get("/api/v1/status", headers=admin_headers).json["embedder"] == {
        "name": "builtin",
        "loaded": False,
    }
    vectors = hub.embedder.embed(["offline from the first start"])
    assert vectors.shape == (1, 384)
    status = client.get("/api/v1/status", headers=admin_headers).json["embedder"]
    assert status == {"name": "builtin (all-MiniLM-L6-v2)", "loaded": True, "dimension": 384}
    assert not list(hub.settings.effective_models_dir.glob("*"))  # nothing was downloaded


def test_an_embedding_gguf_can_replace_the_builtin_one(tmp_path):
    from neurocache.app import create_app, hub_of
    from neurocache.settings import Settings
    from neurocache.store.audit import Actor

    app = create_app(Settings(data_dir=tmp_path / "a"), testing=True)
    model = hub_of(app).models.register_local(str(BUILTIN_MODEL), Actor("test"))
    assert model.role == "embedding"  # read from the GGUF header: a BERT
    hub_of(app).close()
    app = create_app(Settings(data_dir=tmp_path / "a", embedder=model.id), testing=True)
    assert hub_of(app).embedder.embed(["hello"]).shape == (1, 384)
    hub_of(app).close()
    app = create_app(Settings(data_dir=tmp_path / "a", embedder="nope"), testing=True)
    with pytest.raises(InvalidInput, match="not an embedding model"):
        hub_of(app).embedder  # noqa: B018
    hub_of(app).close()
