"""Stylize: neural style transfer served by a local gRPC daemon.

Importing this package is cheap (no TensorFlow, no numpy): the GIMP bridge
imports only ``stylize.client.library`` and the generated stubs.
"""

__version__ = "0.1.0"
