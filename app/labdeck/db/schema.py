"""Every model module, imported once so ``Base.metadata`` holds the whole schema."""

from __future__ import annotations

from labdeck.db import (  # noqa: F401
    cards_models,
    datasets_models,
    jobs_models,
    models,
    registry_models,
)
from labdeck.db.models import Base

metadata = Base.metadata
