"""Dagster wiring of the sync engine: partitions, resources, IO manager, assets, checks, automation.

Files here only wire: every decision about GitHub or the warehouse is a call into ``sync``,
``github``, ``warehouse`` or ``core``. ``prmon_pipeline.definitions`` composes them.
"""
