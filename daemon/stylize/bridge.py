"""Bridge between the GIMP plug-in and the Stylize daemon: ``python -m stylize.bridge``.

GIMP's own Python (2.7 in GIMP 2.10, a bundled 3.x elsewhere) cannot load grpcio, so
the plug-in spawns this program with a Python 3 that has Stylize installed, writes one
request to its stdin and reads events from its stdout. The framing is specified in
``gimp_plugin/stylize_gimp/protocol.py`` (the plug-in's half); in short:

    in:  4-byte big-endian length | JSON header | content pixels | style file bytes...
    out: JSON lines {"event": "progress"|"result"|"error", ...}; a result line is
         followed by its raw pixel bytes. Logs go to stderr.

Everything about gRPC lives here and in ``stylize.client``: deadlines, retries while
the daemon is starting, and turning status codes into messages that tell the user what
to do. Only the standard library and ``stylize.client`` are imported: this runs in
venvs that have grpcio and protobuf but neither numpy nor TensorFlow.
"""

from __future__ import annotations

import json
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

PROTOCOL_VERSION = 1
DEFAULT_TIMEOUT = 600.0
CONNECT_BUDGET = 5.0  # seconds to wait for / retry an UNAVAILABLE daemon before any progress
RETRY_DELAY = 0.5
_LENGTH = struct.Struct(">I")
_MAX_HEADER = 1 << 20

Event = dict[str, Any]
Emit = Callable[[Event, bytes], None]


class BridgeError(Exception):
    """A failure reported to the plug-in as an error event with a user-facing message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- framing -------------------------------------------------------------------------


def _read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise BridgeError(
            "INVALID_ARGUMENT", f"request truncated: {what} has {len(data)} of {size} bytes"
        )
    return data


def read_request(stream: BinaryIO) -> tuple[dict[str, Any], bytes, list[bytes]]:
    """Read (header, content pixels, [style file bytes]) from the plug-in."""
    (length,) = _LENGTH.unpack(_read_exact(stream, _LENGTH.size, "header length"))
    if length > _MAX_HEADER:
        raise BridgeError("INVALID_ARGUMENT", f"request header of {length} bytes is too large")
    try:
        header = json.loads(_read_exact(stream, length, "header").decode("utf-8"))
        version = header["version"]
        content_info = header["content"]
        styles_info = header["styles"]
    except (ValueError, KeyError, TypeError) as e:
        raise BridgeError("INVALID_ARGUMENT", f"malformed request header: {e}") from e
    if version != PROTOCOL_VERSION:
        raise BridgeError(
            "FAILED_PRECONDITION",
            f"plug-in speaks protocol {version}, this "
            f"bridge {PROTOCOL_VERSION}: reinstall with `stylize gimp install`",
        )
    content = _read_exact(stream, int(content_info["size"]), "content")
    styles = [
        _read_exact(stream, int(s["size"]), f"style {s.get('name', i)}")
        for i, s in enumerate(styles_info)
    ]
    return header, content, styles


def event_writer(stream: BinaryIO) -> Emit:
    """Return emit(event, data): one JSON line, then `data` raw bytes, flushed."""

    def emit(event: Event, data: bytes = b"") -> None:
        stream.write(json.dumps(event).encode("utf-8") + b"\n")
        if data:
            stream.write(data)
        stream.flush()

    return emit


# --- user-facing errors ------------------------------------------------------------


def serve_command(address: str) -> str:
    """The command that starts a daemon listening on `address`."""
    host, _, port = address.rpartition(":")
    parts = ["stylize serve"]
    if host not in ("", "127.0.0.1", "localhost", "[::1]"):
        parts.append(f"--host {host}")
    if port and port != "50051":
        parts.append(f"--port {port}")
    return " ".join(parts)


_LOST_CODES = frozenset({"UNAVAILABLE", "CANCELLED", "UNKNOWN", "INTERNAL", "ABORTED"})


def explain(code: str, message: str, address: str, timeout: float, started: bool) -> str:
    """Turn a gRPC status into a message that says what happened and what to do.

    `started` tells whether the daemon had accepted the job (sent progress), which
    separates "not running" from "died mid-job".
    """
    start = serve_command(address)
    if code == "UNAVAILABLE" and not started:
        return (
            f"Cannot reach the Stylize daemon at {address}. Start it with `{start}` "
            "and try again (or correct the daemon address in the plug-in's settings)."
        )
    if code in _LOST_CODES and started:
        return (
            f"The Stylize daemon at {address} stopped during the job ({code}: {message}). "
            f"Restart it with `{start}` and try again."
        )
    if code == "DEADLINE_EXCEEDED":
        return (
            f"The Stylize daemon did not finish within {timeout:g} seconds. Select a "
            "smaller area, or allow more time with `stylize gimp install --timeout "
            "SECONDS`."
        )
    if code == "RESOURCE_EXHAUSTED":
        return (
            f"The Stylize daemon refused the job: {message}. If the image is too large, "
            "select a smaller area or scale the layer down; if the daemon is busy, try "
            "again in a moment."
        )
    if code == "INVALID_ARGUMENT":
        return (
            f"The Stylize daemon rejected the request: {message}. Choose another style "
            "image (PNG, JPEG, WebP or TIFF) and try again."
        )
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return f"The Stylize daemon at {address} refused access: {message}."
    if code == "UNIMPLEMENTED":
        return (
            f"The server at {address} is not a compatible Stylize daemon ({message}). "
            "Update Stylize so the daemon and plug-in match."
        )
    return f"The Stylize daemon reported {code}: {message}"


# --- the job -------------------------------------------------------------------------


def _content_image(client_mod: Any, info: dict[str, Any], data: bytes) -> Any:
    fmt = info.get("format")
    if fmt not in client_mod.CHANNELS:
        raise BridgeError("INVALID_ARGUMENT", f"unknown pixel format {fmt!r}")
    width, height = int(info["width"]), int(info["height"])
    if len(data) != width * height * client_mod.CHANNELS[fmt]:
        raise BridgeError(
            "INVALID_ARGUMENT", f"{len(data)} bytes of pixels for {width}x{height} {fmt}"
        )
    return client_mod.RawImage(width=width, height=height, format=fmt, data=data)


def run_job(
    client_mod: Any,
    header: dict[str, Any],
    content: bytes,
    styles: list[bytes],
    emit: Emit,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Stylize through the daemon, emitting progress events then the result event.

    UNAVAILABLE before the daemon sent any progress (it is still starting, or a
    connection blip) is retried for up to CONNECT_BUDGET seconds; later failures are
    final. Raises BridgeError with a user-facing message.
    """
    address = str(header.get("address") or client_mod.DEFAULT_ADDRESS)
    timeout = float(header.get("timeout") or DEFAULT_TIMEOUT)
    image = _content_image(client_mod, header["content"], content)
    sources = [
        client_mod.encoded_style(data, float(info.get("weight", 1.0)))
        for info, data in zip(header["styles"], styles, strict=True)
    ]
    started = False

    def on_progress(progress: Any) -> None:
        nonlocal started
        started = True
        emit(
            {
                "event": "progress",
                "fraction": float(progress.fraction),
                "message": progress.message or "Stylizing",
            },
            b"",
        )

    emit(
        {
            "event": "progress",
            "fraction": 0.0,
            "message": f"Connecting to the Stylize daemon at {address}",
        },
        b"",
    )
    budget = header.get("connect_timeout")
    deadline = time.monotonic() + float(CONNECT_BUDGET if budget is None else budget)
    while True:
        connect_timeout = max(deadline - time.monotonic(), RETRY_DELAY)
        try:
            with client_mod.StylizeClient(
                address, timeout=timeout, connect_timeout=connect_timeout
            ) as client:
                result = client.stylize(
                    image,
                    sources,
                    strength=float(header["strength"]),
                    options=client_mod.pb.StylizeOptions(
                        preserve_colors=bool(header.get("keep_colors", False))
                    ),
                    on_progress=on_progress,
                )
            break
        except client_mod.ClientError as e:
            retry = e.code == "UNAVAILABLE" and not started and time.monotonic() < deadline
            print(f"stylize.bridge: {e}{' (retrying)' if retry else ''}", file=sys.stderr)
            if not retry:
                raise BridgeError(
                    e.code, explain(e.code, e.message, address, timeout, started)
                ) from e
            sleep(RETRY_DELAY)
    out = result.image
    emit(
        {
            "event": "result",
            "width": out.width,
            "height": out.height,
            "format": out.format,
            "size": len(out.data),
            "seconds": result.seconds,
        },
        out.data,
    )


def _import_client() -> Any:
    try:
        from stylize import client
    except ImportError as e:
        raise BridgeError(
            "FAILED_PRECONDITION",
            f"{sys.executable} cannot load the Stylize "
            f"gRPC client ({e}). Install Stylize (grpcio, protobuf) for this "
            "Python, or reinstall the plug-in with `stylize gimp install "
            "--python /path/to/python3`.",
        ) from e
    return client


def serve_once(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Handle one request; every failure becomes an error event. Returns the exit code."""
    emit = event_writer(stdout)
    try:
        header, content, styles = read_request(stdin)
        run_job(_import_client(), header, content, styles, emit)
        return 0
    except BridgeError as e:
        emit({"event": "error", "code": e.code, "message": e.message}, b"")
    except Exception as e:
        traceback.print_exc()
        emit(
            {
                "event": "error",
                "code": "INTERNAL",
                "message": f"The Stylize bridge failed: {e!r}. Please report this bug.",
            },
            b"",
        )
    return 1


def check() -> int:
    """`--check`: prove this interpreter can run the bridge (used by the installer)."""
    try:
        client = _import_client()
    except BridgeError as e:
        print(e.message, file=sys.stderr)
        return 1
    print(
        f"stylize bridge ok: python {sys.version.split()[0]}, default daemon "
        f"{client.DEFAULT_ADDRESS}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        return check()
    if args:
        print(
            "usage: python -m stylize.bridge [--check]  (request on stdin, events on "
            "stdout; spawned by the GIMP plug-in)",
            file=sys.stderr,
        )
        return 2
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must never corrupt the event stream
    return serve_once(sys.stdin.buffer, stdout)


if __name__ == "__main__":
    sys.exit(main())
