"""Stylize GIMP plug-in core: shared by the GIMP 2.10 and GIMP 3 entries.

Standard library only, Python 2.7 and 3.x. No GIMP API here (see core.py).
"""
