"""LangChain's standard suites have unmarked coroutine tests: mark them for pytest-asyncio.

The mark must be on the item before pytest-asyncio's own collection wrapper looks for it,
so this wrapper runs inside that one (``trylast``). Only tests defined by langchain_tests
are marked; other coroutine tests keep their own marks (asyncio or anyio).
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import pytest


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> Generator[None, Any, Any]:
    result = yield
    if inspect.iscoroutinefunction(obj) and getattr(obj, "__module__", "").startswith(
        "langchain_tests."
    ):
        for item in result if isinstance(result, list) else [result]:
            if isinstance(item, pytest.Function):
                item.add_marker(pytest.mark.asyncio)
    return result
