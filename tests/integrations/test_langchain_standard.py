"""LangChain's own standard test suite for vector stores, run unmodified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from omnivector.integrations.langchain import OmnivectorVectorStore


class TestOmnivectorStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[OmnivectorVectorStore]:
        store = OmnivectorVectorStore(self.get_embeddings(), path=tmp_path / "store")
        try:
            yield store
        finally:
            store.close()
