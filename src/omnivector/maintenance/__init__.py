"""Keeping tables small and fast: compaction and cleanup, stats and health, and the
auto-maintenance policy."""
