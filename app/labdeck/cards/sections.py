"""The sections of a model card, in the order of Mitchell et al. as the Hugging Face template lays them out.

Human sections are written by people in the card editor (or ``labdeck card edit``) and saved
with the version; everything else is filled from the records. A human section nobody wrote is
shown as missing, never invented.
"""

from __future__ import annotations

from dataclasses import dataclass

from labdeck.errors import UserError


@dataclass(frozen=True)
class HumanSection:
    key: str
    title: str
    prompt: str  # what the author is asked to write (editor placeholder, card hint)


HUMAN_SECTIONS: tuple[HumanSection, ...] = (
    HumanSection("description", "Model description",
                 "What the model is and does, in a few sentences."),
    HumanSection("intended_use", "Intended uses",
                 "Primary intended uses and users: the tasks and settings the model was made for."),
    HumanSection("out_of_scope_use", "Out-of-scope uses",
                 "Uses the model was not made for, misuse, and settings where it must not be used."),
    HumanSection("factors", "Factors",
                 "Groups, instruments and environments whose differences may change the model's performance."),
    HumanSection("limitations", "Limitations",
                 "Known technical limitations and failure modes."),
    HumanSection("recommendations", "Caveats and recommendations",
                 "What users should know or do before relying on the model."),
    HumanSection("ethical_considerations", "Ethical considerations",
                 "Risks, sensitive data, affected people, and how the risks are mitigated."),
    HumanSection("license", "License",
                 "An SPDX identifier (e.g. apache-2.0, mit) or the license text."),
    HumanSection("contact", "Contact",
                 "Who to ask about the model (a person, a team, an address)."),
)
BY_KEY = {s.key: s for s in HUMAN_SECTIONS}
KEYS = tuple(BY_KEY)
MISSING = "Missing: not written yet"  # the marker a card shows for an empty human section


class UnknownSection(UserError, ValueError):
    pass


def check_key(key: str) -> str:
    if key not in BY_KEY:
        raise UnknownSection(f"unknown card section {key!r}: one of {', '.join(KEYS)}")
    return key
