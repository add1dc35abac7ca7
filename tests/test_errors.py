"""lance_errors: which Lance/Arrow failures become which omnivector errors."""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest

import omnivector as ov
from omnivector.core.errors import lance_errors


@pytest.mark.parametrize(
    ("raised", "user_sql", "expected"),
    [
        (ValueError("bad"), False, ov.StorageError),
        (ValueError("bad"), True, ov.InvalidFilterError),
        (OSError("Invalid user input: column x"), True, ov.InvalidFilterError),
        (OSError("disk gone"), True, ov.StorageError),
        (RuntimeError("Commit conflict for version 3"), False, ov.CommitConflictError),
        (pa.ArrowInvalid("broken"), False, ov.StorageError),
    ],
)
def test_lance_failures_become_omnivector_errors(
    raised: Exception, user_sql: bool, expected: type[Exception]
) -> None:
    with (
        pytest.raises(expected, match="doing it") as caught,
        lance_errors("doing it", user_sql=user_sql),
    ):
        raise raised
    assert caught.value.__cause__ is raised


@pytest.mark.parametrize("raised", [ov.DuplicateIdError("dup", ["a"]), KeyError("k")])
def test_other_exceptions_pass_unchanged(raised: Exception) -> None:
    with pytest.raises(type(raised)) as caught, lance_errors("doing it"):
        raise raised
    assert caught.value is raised


def test_no_exception_passes_through() -> None:
    with lance_errors("doing it"):
        value = 1
    assert value == 1


def test_a_missing_dependency_names_the_extra_to_install(
    store: ov.VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = ov.MissingDependencyError("engine='ray' needs Ray", extra="ray")
    assert isinstance(error, ImportError) and error.extra == "ray"
    assert str(error).endswith("pip install 'omni-vector[ray]'")
    table = store.create_table("t")
    table.add([{"id": "a", "vector": [1.0] * 16}])
    hits = table.search([1.0] * 16)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ov.MissingDependencyError, match=r"omni-vector\[pandas\]"):
        hits.to_pandas()


def test_an_interrupt_inside_lance_stays_an_interrupt() -> None:
    # Lance reports a KeyboardInterrupt raised while it read Python data as an external error
    with pytest.raises(KeyboardInterrupt), lance_errors("adding to 't'"):
        raise OSError("External error: KeyboardInterrupt: ")
