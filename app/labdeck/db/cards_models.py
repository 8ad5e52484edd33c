"""Schema for model-card sections written by people (filled in by the cards capability).

Models here derive from `labdeck.db.models.Base`; `labdeck.db.schema` imports this
module so that migrations and the schema test see them.
"""

from __future__ import annotations

from labdeck.db.models import Base  # noqa: F401
