# -*- coding: utf-8 -*-
"""Logic shared by the GIMP 2.10 and GIMP 3 entries, free of any GIMP API: one name space
for the entries (``core.X``), gathered from modules with one job each:

    errors          StylizeError, text as the running GIMP wants it
    labels          the procedure's name, menu, help and messages
    settings        the installer's config and the defaults the GIMP side copies
    pixels          wire and babl formats, precisions, byte order
    geometry        which rectangle is sent and where the result goes; preview sizes
    regions         where each style paints (selection, channels, layer mask) as masks
    options         the user's choices, their labels and limits, validated into a Request
    naming          names of the result layers, groups and library entries
    bridge_process  one job through `python -m stylize.client.bridge` (stylize())
    session         one warm bridge for the live preview (BridgeSession)
    library         the daemon's style library (the gallery's list, adding a file)

and, beside them, animation (layers as frames, one sequence) and dialog_layout (the GIMP 3
dialog's pages and which controls act). Standard library only; runs on Python 2.7 (GIMP
2.10) and 3.x (GIMP 3). The entries read pixels and geometry from GIMP, call `stylize()`
(which runs the bridge and waits for the daemon), and only then touch the image.
"""

from .errors import (  # noqa: F401
    StylizeError,
    native_text,
    error_text,
)
from .labels import (  # noqa: F401
    PROC_NAME,
    MENU_PATH,
    MENU_LABEL,
    IMAGE_TYPES,
    BLURB,
    HELP,
    GIMP3_PRECISION_HELP,
    GIMP2_PRECISION_HELP,
    INDEXED_MESSAGE,
)
from .settings import (  # noqa: F401
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    CONFIG_FILE,
    CREDENTIAL_KEYS,
    SERVE_COMMAND,
    plugin_dir,
    load_settings,
)
from .pixels import (  # noqa: F401
    _LAYOUTS,
    DEPTHS,
    _FORMATS,
    PixelFormat,
    depth_of_precision,
    wire_order,
)
from .geometry import (  # noqa: F401
    Region,
    preview_size,
    plan_region,
    whole_layer,
)
from .regions import (  # noqa: F401
    WHERE,
    WHERE_LABELS,
    WHERE_HELP,
    STRENGTH_MAP_HELP,
    Where,
    Mask,
    mask_origin,
    SPLIT_OPTIONS,
    split_wheres,
    read_clipped,
    uses_selection,
    check_choices,
    read_masks,
)
from .options import (  # noqa: F401
    COLOR_MATCHES,
    COLOR_MATCH_LABELS,
    METHODS,
    METHOD_LABELS,
    PRESETS,
    PRESET_LABELS,
    MAX_KEEP_STEPS,
    METHOD_HELP,
    PRESET_HELP,
    BALANCE_HELP,
    KEEP_STEPS_HELP,
    OUTPUTS,
    OUTPUT_LABELS,
    BLEND_MODES,
    OUTPUT_HELP,
    LibraryStyle,
    MAX_WEIGHT,
    STRENGTH_HELP,
    OPACITY_HELP,
    DEFAULT_STROKE_SCALE,
    MIN_STROKE_SCALE,
    MAX_STROKE_SCALE,
    DIALOG_MAX_STROKE_SCALE,
    STROKE_SCALE_HELP,
    Request,
    _choice,
    preview_request,
    color_match_name,
    _method_settings,
    make_request,
)
from .naming import (  # noqa: F401
    style_label,
    layer_name,
    steps_group_name,
    library_name,
)
from .bridge_process import (  # noqa: F401
    _CREATE_NO_WINDOW,
    _read_style,
    build_request,
    _style_header,
    _connection,
    _bridge_env,
    _spawn_bridge,
    _tail,
    Step,
    _check_result,
    run_bridge,
    _exchange,
    _wait,
    _reap,
    stylize,
)
from .session import (  # noqa: F401
    BridgeSession,
)
from .library import (  # noqa: F401
    GalleryStyle,
    _gallery_styles,
    list_styles,
    add_style,
)
