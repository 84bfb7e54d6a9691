"""The client side: the gRPC client library (library.py) and what is built on it — the
``stylize`` CLI (cli.py), the GIMP bridge (bridge.py) and the installers.
"""
