"""The one place where a failed call becomes words for a person: what happened, what to do.

The CLI prints these and the GIMP bridge shows them in GIMP's message box; both
pass the :class:`~stylize.client.library.ClientError` they got, so the words follow the
daemon's machine-readable reason and field, never a guess from the status code.
"""

from __future__ import annotations

from stylize.client.library import DEFAULT_PORT, ClientError

_LOST_CODES = frozenset({"UNAVAILABLE", "CANCELLED", "UNKNOWN", "INTERNAL", "ABORTED", "DATA_LOSS"})
# How grpc words a failed TLS handshake (client side), and a connection the server closed
# before HTTP/2 began: a daemon that refused our certificate (mTLS, TLS 1.3 says so only
# after the client's side of the handshake) or that speaks TLS while we did not.
_TLS_WORDS = ("handshake", "ssl_error", "certificate", "tsi_")
_CLOSED_WORDS = ("socket closed",)


def _connection_trouble(message: str) -> str | None:
    """Words for a daemon that was reached but refused the connection, or None."""
    lowered = message.lower()
    if any(word in lowered for word in _TLS_WORDS):
        return "the TLS handshake failed"
    if any(word in lowered for word in _CLOSED_WORDS):
        return "it closed the connection before answering"
    return None


def serve_command(address: str) -> str:
    """The command that starts a daemon listening on ``address``."""
    if "," in address or address.startswith(("ipv4:", "ipv6:", "dns:")):
        return "stylize serve --host HOST on each machine of the pool"  # a gRPC pool target
    host, _, port = address.rpartition(":")
    parts = ["stylize serve"]
    if host not in ("", "127.0.0.1", "localhost", "[::1]"):
        parts.append(f"--host {host}")
    if port and port != str(DEFAULT_PORT):
        parts.append(f"--port {port}")
    return " ".join(parts)


def _what_is_wrong(field: str | None) -> str:
    if field is None:
        return "the request"
    if field.startswith("styles["):
        index = field[len("styles[") :].split("]", 1)[0]
        number = int(index) + 1 if index.isdigit() else index
        return f"style {number}"
    if "content" in field:
        return "the image"
    return f"the option {field}"


def explain(error: ClientError, address: str, timeout: float | None, setting: str) -> str:
    """A message that says what happened and what to do.

    ``setting`` names where the user changes the daemon address or timeout (the CLI's
    flags, the plug-in's settings), so the advice fits where it is shown.
    """
    start = serve_command(address)
    code, message = error.code, error.message
    unreached = code == "UNAVAILABLE" and not error.started and not error.reason
    if unreached and "backend unhealthy" in message:  # health checking: up, none SERVING
        text = (
            f"The Stylize daemon at {address} is not ready (loading its models or shutting "
            f"down); try again in a few seconds ({message})."
        )
    elif unreached and (trouble := _connection_trouble(message)):
        text = (
            f"The Stylize daemon at {address} is running but refused the connection: "
            f"{trouble} ({message}). Check the TLS settings: the CA that signed the "
            "daemon's certificate, and a client certificate and key that the daemon trusts "
            "if it requires one (mTLS); leave TLS out only if the daemon does not use it."
        )
    elif unreached:
        text = (
            f"Cannot reach the Stylize daemon at {address}. Start it with `{start}` and try "
            f"again (or correct the daemon address: {setting})."
        )
    elif code in _LOST_CODES and error.started:
        text = (
            f"The Stylize daemon at {address} stopped during the job ({code}: {message}). "
            f"Restart it with `{start}` and try again; the image was not changed."
        )
    elif error.reason == "UPLOAD_TIMEOUT":
        text = f"The daemon gave up waiting for this request: {message}."
    elif code == "DEADLINE_EXCEEDED":
        text = (
            f"The Stylize daemon did not finish within {timeout or 0:g} seconds. Select a "
            f"smaller area or image, or allow more time ({setting})."
        )
    elif error.reason in ("BUSY", "MEMORY_BUSY", "RATE_LIMITED", "NOT_READY"):
        text = f"The Stylize daemon is busy: {message}. Try again in a moment."
    elif error.field in ("name", "image"):  # AddStyle's fields
        text = f"The style was not added to the library: {message}."
    elif code == "RESOURCE_EXHAUSTED":
        text = (
            f"The image is too large for this Stylize daemon: {message}. Select a smaller "
            "area or scale the layer down."
        )
    elif code in ("INVALID_ARGUMENT", "NOT_FOUND"):
        text = f"Stylize cannot use {_what_is_wrong(error.field)}: {message}."
    elif code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        text = f"The Stylize daemon at {address} refused access: {message}."
    elif code == "UNIMPLEMENTED":
        text = (
            f"The server at {address} is not a compatible Stylize daemon ({message}). "
            "Update Stylize so the daemon and its clients match."
        )
    else:
        text = f"The Stylize daemon reported {code}: {message}"
    if error.request_id:
        text += f" (request id {error.request_id})"
    return text
