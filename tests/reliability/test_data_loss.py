"""No easy data loss: a filter that matches everything by itself never empties a table, and an
older version stays restorable for ``keep_seconds`` after it was replaced."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import omnivector as ov
from omnivector.cli import app
from tests.conftest import DIM, FIELDS, make_docs


@pytest.fixture
def table(store: ov.VectorStore, rng: np.random.Generator) -> ov.Table:
    created = store.create_table("docs", fields=FIELDS)
    created.add(make_docs(30, rng))
    return created


@pytest.mark.parametrize(
    "where",
    [
        {"where": {}},
        {"where": {"$and": [{}]}},
        {"where_sql": "1 = 1"},
        {"where_sql": "TRUE"},
        {"where_sql": "year > 2010 OR 2 > 1"},
        {"where_sql": "NOT false AND (year = 1 OR true)"},
    ],
)
def test_delete_refuses_a_filter_true_for_every_row(table: ov.Table, where: dict[str, Any]) -> None:
    version = table.version
    with pytest.raises(ov.UnsafeOperationError, match="all=True"):
        table.delete(**where)
    assert table.count() == 30 and table.version == version


def test_delete_all_needs_saying_so(table: ov.Table) -> None:
    with pytest.raises(ov.InvalidInputError, match="one of"):
        table.delete(where={"category": "paper"}, all=True)
    with pytest.raises(ov.InvalidInputError, match="one of"):
        table.delete()
    assert table.delete(where={"year": {"$gte": 0}}).deleted == 30  # a real condition
    table.add(make_docs(5, np.random.default_rng(1)))
    assert table.delete(all=True).deleted == 5 and table.count() == 0


def test_cli_delete_refuses_an_empty_filter_and_deletes_all_with_all_yes(
    store: ov.VectorStore, table: ov.Table
) -> None:
    runner = CliRunner()
    root = ["--store", store.path, "delete", "docs"]
    refused = runner.invoke(app, [*root, "--where", "{}"])
    assert refused.exit_code == 1 and "--all --yes" in refused.stderr
    asked = runner.invoke(app, [*root, "--all"], input="n\n")
    assert asked.exit_code == 1 and table.count() == 30
    done = runner.invoke(app, [*root, "--all", "--yes"])
    assert done.exit_code == 0, done.output
    assert "deleted 30 documents" in done.stdout and table.count() == 0


def test_restore_after_a_delete_survives_many_versions_within_keep_seconds(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    keep_seconds = 1.5
    config = ov.MaintenanceConfig(enabled=False, keep_versions=2, keep_seconds=keep_seconds)
    with ov.VectorStore(tmp_path / "s", dimension=DIM, maintenance=config) as store:
        table = store.create_table("docs", fields=FIELDS)
        table.add(make_docs(20, rng))
        before = table.version
        time.sleep(keep_seconds + 0.5)  # the version to restore is older than keep_seconds
        table.delete(where={"category": "paper"})
        for batch in range(6):  # far more versions than keep_versions
            table.add(make_docs(2, rng, start=100 + 2 * batch))
        table.optimize()  # what auto-maintenance runs: compaction and cleanup
        assert before in [v.version for v in table.versions()]
        table.restore(before)
        assert table.count() == 20
        time.sleep(keep_seconds + 0.5)  # now every replaced version may go
        table.cleanup(older_than=keep_seconds)
        assert [v.version for v in table.versions()] == [table.version]
