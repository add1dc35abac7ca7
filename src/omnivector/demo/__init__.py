"""The demo application: a store of the Python standard library's docstrings, searched."""

from omnivector.demo.corpus import stdlib_docstrings
from omnivector.demo.run import run_demo

__all__ = ["run_demo", "stdlib_docstrings"]
