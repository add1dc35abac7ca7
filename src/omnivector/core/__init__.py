"""Leaf types: errors, results, queries, the document schema and its conversion, filters,
fusion, configs and shared checks. Imports nothing else of omnivector."""
