"""Local-file adapters: what the Dagster IO manager persists between steps."""
