"""``python -m prmon_pipeline.cli`` runs the ``prmon`` command."""

from prmon_pipeline.cli import entry_point

entry_point()
