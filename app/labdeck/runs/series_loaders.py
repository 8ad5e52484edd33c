"""The on-demand point loaders of the readers whose series stay in their tool's store.

Importing this module registers them with ``labdeck.db.series_sources``; the indexer and the
workspace import it, so every process that indexes or reads runs can read all their points.
(Not the ``labdeck.runs`` package itself: the SDK imports from it and must stay light.)
"""

from __future__ import annotations

from labdeck.db import series_sources


def _mlflow_sqlite_points(*args):  # imported on first use: reading MLflow needs pandas
    from labdeck.runs.readers._mlflow_sqlite_series import load_points

    return load_points(*args)


series_sources.register("mlflow_sqlite", _mlflow_sqlite_points)
