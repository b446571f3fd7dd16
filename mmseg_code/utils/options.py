"""Validation of option dictionaries (e.g. a segmentor's ``test_cfg``): a misspelt key is an error, never ignored."""
import difflib
from typing import Iterable, Mapping

from .tool import UserError


class OptionError(UserError, ValueError):
    """A value or key of a config option the user set is not accepted (one line; a ``ValueError`` too)."""


def check_known_keys(given: Mapping, known: Iterable[str], where: str) -> None:
    """Raise a one-line :class:`OptionError` naming the first key of ``given`` not in ``known`` (with the closest known
    key, if one is close) and listing the known keys.

    Args:
        given: the options the user set.
        known: the accepted keys.
        where: what the options are, for the message (e.g. ``'TCL test_cfg'``).
    """
    known = sorted(known)
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            raise OptionError(f"Unknown key '{key}' in {where}{hint}; known keys: {', '.join(known)}.")
