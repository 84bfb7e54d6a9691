"""Fake `gimpcolor` (only what gimpfu's type table needs)."""


class RGB(tuple):
    def __new__(cls, r=0, g=0, b=0, a=255):
        return tuple.__new__(cls, (r, g, b, a))
