"""Bearer tokens: the one rule for a token wherever it is read (daemon, CLI, client, bridge).

A token is its text without the whitespace around it (a file's trailing newline is not
part of it). A token with nothing left is blank: the daemon refuses to start with one
(it would accept ``authorization: Bearer`` followed by spaces), and a client sends no
``authorization`` for one. Standard library only: the client side imports it.
"""

from __future__ import annotations


def token_text(raw: str | bytes | None) -> str | None:
    """``raw`` without surrounding whitespace; None when unset or blank."""
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return text.strip() or None


def required_token(raw: str | bytes | None, source: str) -> str | None:
    """``token_text(raw)``, refusing a blank one (ValueError naming ``source``); None if unset."""
    token = token_text(raw)
    if raw is not None and token is None:
        raise ValueError(
            f"the token from {source} is blank (empty or only whitespace); "
            "give a real token, or none on loopback"
        )
    return token
