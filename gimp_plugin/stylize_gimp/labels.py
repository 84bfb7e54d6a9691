# -*- coding: utf-8 -*-
"""What GIMP shows for the procedure: its name, menu, help and messages.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""

PROC_NAME = "python-fu-stylize"
MENU_PATH = "<Image>/Filters/Artistic"
MENU_LABEL = "_Neural Style Transfer..."
IMAGE_TYPES = "RGB*, GRAY*"
BLURB = "Repaint the layer in the style of one to three images"
HELP = ("Sends the active layer (or the selection's bounding box) and the style images to "
        "the local Stylize daemon and adds the result as a new layer above the source.")


GIMP3_PRECISION_HELP = ("The layer is read and the new layer written in the image's own "
                        "precision (8-bit, 16-bit, or 32-bit float for 32-bit, half and "
                        "double images); float values above 1.0 keep their part above 1.0.")
GIMP2_PRECISION_HELP = ("GIMP 2.10's Python-Fu pixel regions are 8-bit: a 16-bit or float "
                        "image is read and stylized at 8 bits per channel (use GIMP 3 to keep "
                        "its precision).")


INDEXED_MESSAGE = ("Indexed images are not supported: convert the image with "
                   "Image > Mode > RGB (or Grayscale) first.")
