"""Schema for model-card sections written by people (filled in by the cards capability).

Tables here derive from `labdeck.db.catalogue_tables.Base`; `labdeck.db.schema` imports this
module so that migrations and the schema test see them. Facts are never stored here: they
are read from the records each time a card is rendered, so a card cannot drift from them.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from labdeck.db.catalogue_tables import Base


class CardSection(Base):
    """The current text of one human-written section of a model version's card."""

    __tablename__ = "card_sections"
    __table_args__ = (UniqueConstraint("version_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))  # intended_use, limitations, ... (labdeck.cards.sections)
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(Integer)  # ms since the epoch
