"""The type checks every option and argument shares.

``bool`` is a subclass of ``int`` in Python, so ``isinstance(True, int)`` holds: a flag passed
where a count belongs would slip through a plain ``isinstance`` check. These helpers refuse it.
"""

from __future__ import annotations

from typing import TypeGuard

__all__ = ["is_integer", "is_number"]


def is_integer(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an ``int`` (and not a ``bool``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """Whether ``value`` is an ``int`` or a ``float`` (and not a ``bool``)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
