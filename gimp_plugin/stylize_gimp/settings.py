# -*- coding: utf-8 -*-
"""The installer's config next to the plug-in, and the defaults the GIMP side copies
(tests/test_defaults_agree.py checks them against the daemon's).

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
import json
import os

from .errors import StylizeError

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 600.0  # seconds for a whole job
DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to wait for the daemon to answer at all
CONFIG_FILE = "stylize-gimp.json"  # written next to this module by `stylize gimp install`
# Config keys naming credential files for a daemon beyond loopback (read by the bridge).
CREDENTIAL_KEYS = ("tls_ca", "tls_cert", "tls_key", "token_file")
SERVE_COMMAND = "stylize serve"


def plugin_dir():
    """The folder holding this package (where the installer puts the config)."""
    return os.path.dirname(os.path.abspath(__file__))


def load_settings(path=None):
    """Read the installer's config; missing file or keys fall back to defaults.

    Keys: python (bridge interpreter), address, timeout and connect_timeout
    (seconds), pythonpath (optional folder holding the `stylize` package, for
    source checkouts). $STYLIZE_BRIDGE_PYTHON overrides python.
    """
    settings = {"python": "python3", "address": DEFAULT_ADDRESS, "timeout": DEFAULT_TIMEOUT,
                "connect_timeout": DEFAULT_CONNECT_TIMEOUT, "pythonpath": ""}
    path = path or os.path.join(plugin_dir(), CONFIG_FILE)
    try:
        with open(path, "rb") as f:
            settings.update(json.loads(f.read().decode("utf-8")))
    except IOError:
        pass
    except ValueError as e:
        raise StylizeError("The plug-in config %s is not valid JSON (%s). Reinstall with "
                           "`stylize gimp install`." % (path, e))
    if os.environ.get("STYLIZE_BRIDGE_PYTHON"):
        settings["python"] = os.environ["STYLIZE_BRIDGE_PYTHON"]
    return settings
