"""lance_errors: which Lance/Arrow failures become which omnivector errors."""

from __future__ import annotations

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


def test_an_interrupt_inside_lance_stays_an_interrupt() -> None:
    # Lance reports a KeyboardInterrupt raised while it read Python data as an external error
    with pytest.raises(KeyboardInterrupt), lance_errors("adding to 't'"):
        raise OSError("External error: KeyboardInterrupt: ")
