"""Framework integrations, apps on omnivector's public API; each is an optional extra.

- :mod:`omnivector.integrations.langchain`: a LangChain ``VectorStore``
  (``pip install 'omni-vector[langchain]'``).
- :mod:`omnivector.integrations.llama_index`: a LlamaIndex ``BasePydanticVectorStore``
  (``pip install 'omni-vector[llama-index]'``).
- :mod:`omnivector.integrations.mcp`: an MCP server on a store
  (``pip install 'omni-vector[mcp]'``; ``omnivector mcp --store PATH``).

Nothing here is imported by ``import omnivector``: a framework loads only when its module is
imported, and a missing one raises :class:`~omnivector.MissingDependencyError`.
"""
