"""Whether a mask has an image's aspect ratio (regions, issue 17).

Pure Python, so the CLI checks ``--mask`` files against the content from their headers
before any job, without the engine's imports; engine/regions.py checks the same rule.
"""

from __future__ import annotations


def aspect_matches(mask_width: int, mask_height: int, width: int, height: int) -> bool:
    """Whether a ``mask_width`` x ``mask_height`` mask has the aspect ratio of a ``width`` x
    ``height`` image: scaled to the same long side, the short sides differ by at most one
    pixel at the smaller of the two sizes (a mask scaled and rounded by an editor passes)."""
    scale = mask_width / width if width >= height else mask_height / height
    if scale <= 1:  # compare at the mask's size
        differences = (mask_width - width * scale, mask_height - height * scale)
    else:  # at the content's
        differences = (mask_width / scale - width, mask_height / scale - height)
    return all(abs(d) <= 1 + 1e-9 for d in differences)
