"""The approval workflow: states, actions and the transitions each action allows.

    draft ──submit──▶ in_review ──approve──▶ approved ──(push)──▶ published
                         │ reject               │ revoke / deprecate   │ revoke / deprecate
                         ▼                      ▼                      ▼
                      rejected ──submit──▶ in_review        revoked, deprecated (final)
"""

from __future__ import annotations

from labdeck.errors import UserError

DRAFT, IN_REVIEW, APPROVED, PUBLISHED = "draft", "in_review", "approved", "published"
REJECTED, REVOKED, DEPRECATED = "rejected", "revoked", "deprecated"
STATES = (DRAFT, IN_REVIEW, APPROVED, PUBLISHED, REJECTED, REVOKED, DEPRECATED)

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({DRAFT, REJECTED}), IN_REVIEW),
    "approve": (frozenset({IN_REVIEW}), APPROVED),
    "reject": (frozenset({IN_REVIEW}), REJECTED),
    "revoke": (frozenset({APPROVED, PUBLISHED}), REVOKED),
    "deprecate": (frozenset({DRAFT, APPROVED, PUBLISHED}), DEPRECATED),
    "publish": (frozenset({APPROVED}), PUBLISHED),  # recorded by the first push, not a user verb
}
USER_ACTIONS = ("submit", "approve", "reject", "revoke", "deprecate")
NEEDS_COMMENT = frozenset({"reject", "revoke", "deprecate"})
PUSHABLE = frozenset({APPROVED, PUBLISHED})


class TransitionRefused(UserError, ValueError):
    """A transition the workflow or the policy does not allow; the message names the rule."""


def target(action: str, state: str) -> str:
    """The state ``action`` leads to from ``state``, or TransitionRefused naming the rule."""
    if action not in TRANSITIONS:
        raise TransitionRefused(f"unknown action {action!r}: one of {', '.join(USER_ACTIONS)}")
    sources, to = TRANSITIONS[action]
    if state not in sources:
        allowed = ", ".join(sorted(sources))
        raise TransitionRefused(
            f"rule workflow: cannot {action} a version that is {state} ({action} applies to: {allowed})"
        )
    return to
