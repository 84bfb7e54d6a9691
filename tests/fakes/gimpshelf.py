"""Fake `gimpshelf`: gimp.set_data/get_data-backed pickles, alive for one GIMP session."""


class _Shelf(dict):
    def has_key(self, key):
        return key in self


shelf = _Shelf()
