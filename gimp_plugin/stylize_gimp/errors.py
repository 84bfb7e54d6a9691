# -*- coding: utf-8 -*-
"""The failure the user reads, and text as the running GIMP wants it.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""

_TEXT = type(u"")  # unicode on Python 2, str on Python 3


class StylizeError(Exception):
    """A failure to show the user as is: says what went wrong and what to do."""


def native_text(text):
    """Text as the running GIMP wants it: UTF-8 bytes for pygimp (2.7), str on 3."""
    if not isinstance(text, str) and isinstance(text, _TEXT):
        return text.encode("utf-8")
    return text


def error_text(error):
    """The user-facing message of an exception, as native text."""
    return native_text(error.args[0] if error.args else repr(error))
