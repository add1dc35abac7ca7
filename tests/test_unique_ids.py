"""add()'s uniqueness check through id digests: fast while one store writes, never fooled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import omnivector as ov
from omnivector.storage import unique_ids
from omnivector.storage.unique_ids import IdDigest, IdDigests, SortedIdHashes, id_hashes

DIM = 8


def _docs(ids: list[str]) -> list[dict[str, object]]:
    rng = np.random.default_rng(len(ids))
    return [{"id": i, "vector": rng.standard_normal(DIM).astype(np.float32)} for i in ids]


def _ids(start: int, stop: int) -> list[str]:
    return [f"d{i}" for i in range(start, stop)]


def _store(path: Path) -> ov.VectorStore:
    return ov.VectorStore(path, dimension=DIM, maintenance=ov.MaintenanceConfig(enabled=False))


def test_digest_matches_its_hashes_across_runs() -> None:
    digest = IdDigest.of((1, "t"), np.array([5, -3, 9], np.int64))
    for version in range(2, 12):  # more runs than are kept apart: merged on the way
        digest = digest.extended((version, "t"), np.array([-version, version * 100], np.int64))
    assert digest.key == (11, "t") and digest.size == 23 and len(digest.runs) <= 8
    probe = np.array([-12, -11, 0, 4, 9, 700, 1100], np.int64)
    assert digest.matches(probe).tolist() == [False, True, False, False, True, True, True]
    assert IdDigest.of((1, "t"), np.array([], np.int64)).matches(probe).tolist() == [False] * 7


def test_digests_stay_within_their_id_budget() -> None:
    digests = IdDigests(max_ids=10)
    for name in ("a", "b", "c"):
        digests.install(name, IdDigest.of((1, name), np.arange(4, dtype=np.int64)))
    assert digests.current("a", (1, "a")) is None  # least recently used, dropped for "c"
    assert digests.current("b", (1, "b")) is not None
    assert digests.current("b", (2, "b")) is None  # another version
    digests.install("big", IdDigest.of((1, "big"), np.arange(11, dtype=np.int64)))
    assert digests.current("big", (1, "big")) is None  # larger than the whole budget


def test_repeated_adds_use_the_digest_and_refuse_stored_ids(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        table = store.create_table("docs")
        for start in range(0, 300, 100):
            table.add(_docs(_ids(start, start + 100)))
        digest = store._services.digests.current("docs", unique_ids.version_key(table.dataset()))
        assert digest is not None and digest.size == 300
        with pytest.raises(ov.DuplicateIdError) as caught:
            table.add(_docs(["new-1", "d150", "d299"]))
        assert sorted(caught.value.ids) == ["d150", "d299"] and table.count() == 300


def test_commits_by_another_store_are_seen(tmp_path: Path) -> None:
    with _store(tmp_path / "one") as first, _store(tmp_path / "one") as second:
        ours = first.create_table("docs")
        ours.add(_docs(_ids(0, 50)))
        second.table("docs").add(_docs(_ids(50, 60)))  # the first store's digest is stale now
        with pytest.raises(ov.DuplicateIdError) as caught:
            ours.add(_docs(["d55", "fresh"]))
        assert caught.value.ids == ["d55"]


def test_a_table_created_again_elsewhere_is_not_mistaken(tmp_path: Path) -> None:
    with _store(tmp_path) as first, _store(tmp_path) as second:
        first.create_table("docs").add(_docs(_ids(0, 50)))
        dataset = first.table("docs").dataset()
        version = int(dataset.version)
        assert first._services.digests.current("docs", unique_ids.version_key(dataset)) is not None
        # dropped and created again by another store, reaching the same version number
        second.drop_table("docs")
        second.create_table("docs").add(_docs(_ids(1000, 1010)))
        assert first.table("docs").version == version
        with pytest.raises(ov.DuplicateIdError):
            first.table("docs").add(_docs(["d1005"]))
        assert first.table("docs").add(_docs(["d0"])).inserted == 1  # stored before the drop


def test_deleted_ids_can_be_added_again(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        table = store.create_table("docs")
        table.add(_docs(_ids(0, 20)))
        table.delete(ids=["d3"])
        assert table.add(_docs(["d3"])).inserted == 1
        table.upsert(_docs(["d4", "u1"]))
        with pytest.raises(ov.DuplicateIdError):
            table.add(_docs(["u1"]))


def test_hash_collisions_are_checked_against_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every id hashes alike: each digest lookup matches and must be settled by the table
    def same(ids: object) -> np.ndarray:
        return np.zeros(len(ids), np.int64)  # type: ignore[arg-type]

    monkeypatch.setattr(unique_ids, "id_hashes", same)
    with _store(tmp_path) as store:
        table = store.create_table("docs")
        table.add(_docs(_ids(0, 30)))
        assert table.add(_docs(_ids(30, 60))).inserted == 30
        with pytest.raises(ov.DuplicateIdError) as caught:
            table.add(_docs(["d59", "d60"]))
        assert caught.value.ids == ["d59"] and table.count() == 60


def test_hashes_follow_the_ids() -> None:
    import pyarrow as pa

    hashes = id_hashes(pa.chunked_array([["a", "b"], ["a"]]))
    assert hashes.dtype == np.int64 and hashes[0] == hashes[2] != hashes[1]
    # bytes, not characters; a trailing zero byte and the order of bytes count
    similar = ["ab", "ba", "ab\x00", "é", "e", "doc-1", "doc-10", "doc-01"]
    assert len(set(id_hashes(pa.array(similar)).tolist())) == len(similar)
    # a slice hashes as its values do, wherever it starts in its buffers
    many = pa.array([f"id-{i}" for i in range(40_000)])
    assert (
        id_hashes(many.slice(20_000, 3)) == id_hashes(pa.array(many[20_000:20_003].to_pylist()))
    ).all()
    assert len(np.unique(id_hashes(many))) == len(many)
    assert len(id_hashes(pa.chunked_array([], pa.string()))) == 0


def test_sorted_hashes_keep_each_ids_position_and_tell_of_repeats() -> None:
    import pyarrow as pa

    ids = pa.chunked_array([["c", "a"], ["b", "a"]])
    hashes = SortedIdHashes.of(ids)
    assert (np.diff(hashes.values) >= 0).all()
    assert (id_hashes(ids)[hashes.order] == hashes.values).all()
    assert sorted(hashes.order.tolist()) == [0, 1, 2, 3]
    assert hashes.may_repeat()
    assert not SortedIdHashes.of(pa.array(["c", "a", "b"])).may_repeat()
    assert not SortedIdHashes.of(pa.array([], pa.string())).may_repeat()
