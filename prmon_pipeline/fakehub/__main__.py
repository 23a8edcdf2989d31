"""``python -m prmon_pipeline.fakehub --repos N --prs M --port P``."""

from prmon_pipeline.fakehub.server import main

raise SystemExit(main())
