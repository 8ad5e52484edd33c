"""The one base class for what a user got wrong or must fix.

A ``UserError`` carries a message written for the user (what is wrong and what to do); the CLI
prints it on one line and exits 2, the app shows it. Anything else that escapes is a bug in
labdeck: it keeps its traceback (exit 1) so it can be reported. Domain errors derive from it
and from the built-in they have always been (``RunNotFound`` is still a ``LookupError``), so
code that catches them by the older name keeps working.
"""


class UserError(Exception):
    """Wrong input, missing things, refused actions: a message for the user, not a traceback."""
