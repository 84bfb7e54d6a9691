"""Fake `gimpfu` (GIMP 2.10): same exports, same register() validation, same _run().

register() and _run() follow GNOME/gimp plug-ins/pygimp/gimpfu.py (gimp-2-10): name
characters, >= 4-element parameter tuples with int types, the 5th element that the
dialog needs for SLIDER/SPINNER/RADIO/OPTION, results >= 3 elements, the "python-fu-"
prefix, and _run's handling of the run modes (non-interactive: the given params;
with-last-vals: the shelf; interactive: the "dialog", which here returns
`dialog_values(defaults)` and stores them on the shelf like gimpfu does).
"""

import string as _string

import gimp
import gimpcolor
import gimpshelf
from gimpenums import *  # noqa: F401,F403  (gimpfu re-exports every enum)
from gimpenums import (
    PDB_COLOR,
    PDB_DISPLAY,
    PDB_DRAWABLE,
    PDB_FLOAT,
    PDB_IMAGE,
    PDB_INT8,
    PDB_INT16,
    PDB_INT32,
    PDB_ITEM,
    PDB_LAYER,
    PDB_CHANNEL,
    PDB_STRING,
    PDB_VECTORS,
    PLUGIN,
    RUN_INTERACTIVE,
    RUN_NONINTERACTIVE,
    RUN_WITH_LAST_VALS,
)

pdb = gimp.pdb


class error(RuntimeError):
    pass


class CancelError(RuntimeError):
    pass


PF_INT8, PF_INT16, PF_INT32 = PDB_INT8, PDB_INT16, PDB_INT32
PF_INT = PF_INT32
PF_FLOAT, PF_STRING = PDB_FLOAT, PDB_STRING
PF_VALUE = PF_STRING
PF_COLOR = PF_COLOUR = PDB_COLOR
PF_ITEM, PF_DISPLAY, PF_IMAGE, PF_LAYER = PDB_ITEM, PDB_DISPLAY, PDB_IMAGE, PDB_LAYER
PF_CHANNEL, PF_DRAWABLE, PF_VECTORS = PDB_CHANNEL, PDB_DRAWABLE, PDB_VECTORS
PF_TOGGLE = PF_BOOL = 1000
PF_SLIDER = 1001
PF_SPINNER = PF_ADJUSTMENT = 1002
PF_FONT, PF_FILE, PF_BRUSH, PF_PATTERN, PF_GRADIENT = 1003, 1004, 1005, 1006, 1007
PF_RADIO, PF_TEXT, PF_PALETTE, PF_FILENAME, PF_DIRNAME, PF_OPTION = (
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
)

_obj_mapping = {
    PF_INT8: int,
    PF_INT16: int,
    PF_INT32: int,
    PF_FLOAT: float,
    PF_STRING: str,
    PF_COLOR: gimpcolor.RGB,
    PF_ITEM: int,
    PF_DISPLAY: object,
    PF_IMAGE: gimp.Image,
    PF_LAYER: gimp.Layer,
    PF_CHANNEL: gimp.Channel,
    PF_DRAWABLE: gimp.Drawable,
    PF_VECTORS: object,
    PF_TOGGLE: bool,
    PF_SLIDER: float,
    PF_SPINNER: int,
    PF_FONT: str,
    PF_FILE: str,
    PF_BRUSH: str,
    PF_PATTERN: str,
    PF_GRADIENT: str,
    PF_RADIO: str,
    PF_TEXT: str,
    PF_PALETTE: str,
    PF_FILENAME: str,
    PF_DIRNAME: str,
    PF_OPTION: int,
}
_NEEDS_EXTRA = (PF_SPINNER, PF_SLIDER, PF_RADIO, PF_OPTION)

_registered_plugins_ = {}
dialog_values = None  # tests: callable(defaults) -> values "entered" in the dialog


def N_(message):
    return message


def _letter_check(text):
    allowed = _string.ascii_letters + _string.digits + "_" + "-"
    return all(ch in allowed for ch in text)


def register(
    proc_name,
    blurb,
    help,
    author,
    copyright,
    date,
    label,
    imagetypes,
    params,
    results,
    function,
    menu=None,
    domain=None,
    on_query=None,
    on_run=None,
):
    if not _letter_check(proc_name):
        raise error("procedure name contains illegal characters")
    for ent in params:
        if len(ent) < 4:
            raise error(
                "parameter definition must contain at least 4 elements (%s given: %s)"
                % (len(ent), ent)
            )
        if type(ent[0]) != int:
            raise error("parameter types must be integers")
        if ent[0] not in _obj_mapping:
            raise KeyError(ent[0])  # gimpfu's _type_mapping lookup at query time
        if not _letter_check(ent[1]):
            raise error("parameter name contains illegal characters")
        if ent[0] in _NEEDS_EXTRA and len(ent) < 5:
            # gimpfu only fails when the dialog is built (IndexError on params[i][4])
            raise IndexError("PF type %d needs a 5th element (bounds or items): %r" % (ent[0], ent))
    for ent in results:
        if len(ent) < 3:
            raise error(
                "result definition must contain at least 3 elements (%s given: %s)"
                % (len(ent), ent)
            )
        if type(ent[0]) != int:
            raise error("result types must be integers")
        if not _letter_check(ent[1]):
            raise error("result name contains illegal characters")
    if not proc_name.startswith(
        ("python-", "python_", "extension-", "extension_", "plug-in-", "plug_in_", "file-", "file_")
    ):
        proc_name = "python-fu-" + proc_name
    if menu is None and label:
        raise error("fake gimpfu: old-style full menu path in the label is deprecated; pass menu=")
    _registered_plugins_[proc_name] = dict(
        blurb=blurb,
        help=help,
        author=author,
        copyright=copyright,
        date=date,
        label=label,
        imagetypes=imagetypes,
        plugin_type=PLUGIN,
        params=params,
        results=results,
        function=function,
        menu=menu,
        domain=domain,
        on_query=on_query,
        on_run=on_run,
    )


def _get_defaults(proc_name):
    key = "python-fu-save--" + proc_name
    if gimpshelf.shelf.has_key(key):
        return gimpshelf.shelf[key]
    return [x[3] for x in _registered_plugins_[proc_name]["params"]]


def _set_defaults(proc_name, defaults):
    gimpshelf.shelf["python-fu-save--" + proc_name] = defaults


def _interact(proc_name, start_params):
    function = _registered_plugins_[proc_name]["function"]
    defaults = _get_defaults(proc_name)[len(start_params) :]
    if dialog_values is None:
        raise CancelError  # no one pressed OK
    run_params = list(dialog_values(list(defaults)))
    params = tuple(start_params) + tuple(run_params)
    _set_defaults(proc_name, params)
    return function(*params)


def _run(proc_name, params):
    """What GIMP calls: params[0] is the run mode (gimpfu._run, 2.10)."""
    run_mode = params[0]
    func = _registered_plugins_[proc_name]["function"]
    if run_mode == RUN_NONINTERACTIVE:
        script_params = _registered_plugins_[proc_name]["params"]
        if len(params) - 1 != len(script_params):  # the PDB checks the argument count
            raise gimp.error(
                "Procedure '%s' has been called with %d arguments, expected %d"
                % (proc_name, len(params) - 1, len(script_params))
            )
        return func(*params[1:])
    script_params = _registered_plugins_[proc_name]["params"]
    min_args = 0
    if len(params) > 1:
        for i in range(1, len(params)):
            if not isinstance(params[i], _obj_mapping[script_params[i - 1][0]]):
                break
        min_args = i
    if len(script_params) > min_args:
        start_params = tuple(params[: min_args + 1])
        if run_mode == RUN_WITH_LAST_VALS:
            params = start_params + tuple(_get_defaults(proc_name)[min_args:])
        else:
            params = start_params
    else:
        run_mode = RUN_NONINTERACTIVE
    if run_mode == RUN_INTERACTIVE:
        try:
            res = _interact(proc_name, params[1:])
        except CancelError:
            return None
    else:
        res = func(*params[1:])
    gimp.displays_flush()
    return res


def main():
    gimp.main(None, None, None, _run)


def fail(msg):
    gimp.message(msg)
    raise error(msg)
