"""Every table module, imported once so ``Base.metadata`` holds the whole schema."""

from __future__ import annotations

from labdeck.db import (  # noqa: F401
    card_tables,
    catalogue_tables,
    dataset_tables,
    job_tables,
    registry_tables,
)
from labdeck.db.catalogue_tables import Base

metadata = Base.metadata
