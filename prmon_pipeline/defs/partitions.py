"""One partition per registered repository, keyed ``owner/name``.

The set follows the ``prmon.repositories`` table: the registry sensor adds and deletes keys
(``sensors.repository_registry_sensor``); a key added in the UI is registered by that sensor too.
"""

from __future__ import annotations

import dagster as dg

REPOSITORIES_PARTITIONS_NAME = "repositories"

repositories_partitions = dg.DynamicPartitionsDefinition(name=REPOSITORIES_PARTITIONS_NAME)
