"""The fast method's graphs by name, built in TensorFlow only when something needs them.

A backend runs graphs (``backends.py``); the OpenVINO backend knows them by name and
reads converted ones back from its cache, so with a warm cache the daemon runs the fast
method without TensorFlow (whose import is ~2.5 s and ~400 MB of a start). The graphs
here are handles (:class:`Graph`): only converting one (a cold cache) or running it in
TensorFlow builds the networks (``transformer_network.py``, ``style_predictor.py``,
which import TensorFlow). What the strip path needs outside the graphs, the norms'
epsilon and the gamma and beta of a style vector, is computed here in numpy from the
same weights.

The networks' constants that TensorFlow-free code needs are in ``network_layout.py``.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stylize.engine.network_layout import (
    EPSILON_CONSTANT,
    RESIDUAL_BLOCKS,
    Projection,
    style_projection,
)

if TYPE_CHECKING:  # onnx_weights imports onnx and ml_dtypes (a second), TensorFlow more
    from stylize.engine.style_predictor import StylePredictor
    from stylize.engine.transformer_network import TransformerNetwork
    from stylize.models.onnx_weights import GraphWeights

# The modules whose code defines the graphs (a converted-model cache key hashes them).
NETWORK_MODULES = (
    "stylize.engine.transformer_network",
    "stylize.engine.style_predictor",
    "stylize.engine.network_layout",
    "stylize.engine.graphs",
)


def module_source(name: str) -> bytes:
    """A module's source, without importing it (they import TensorFlow)."""
    spec = importlib.util.find_spec(name)
    return Path(spec.origin if spec and spec.origin else "").read_bytes()


class Graph:
    """One graph by name; :meth:`tf_function` builds it (and imports TensorFlow)."""

    def __init__(self, name: str, networks: FastNetworks) -> None:
        self.name = name
        self._networks = networks

    def tf_function(self) -> Callable[..., Any]:
        return self._networks.tf_function(self.name)

    def __call__(self, *args: Any) -> Any:
        """Run it in TensorFlow, as the tf.function would be called."""
        return self.tf_function()(*args)

    def __repr__(self) -> str:
        return f"Graph({self.name!r})"


class FastNetworks:
    """The style predictor's and the transformer's graphs as :class:`Graph` handles, under
    the transformer's attribute names (``strip_inference.StripRunner`` reads them); the
    networks themselves are built on the first ``tf_function``, once, thread-safely."""

    def __init__(self, predictor_weights: Path, transformer_weights: Path) -> None:
        self._predictor_weights = predictor_weights
        self._transformer_weights = transformer_weights
        self._lock = threading.Lock()
        self._weights: GraphWeights | None = None  # the transformer's, read when first needed
        self._projection: Projection | None = None
        self._functions: dict[str, Callable[..., Any]] | None = None
        self._network: TransformerNetwork | None = None
        self._predictor: StylePredictor | None = None  # tf.function methods hold weak refs
        self.graphs: dict[str, Graph] = {}  # every graph, by its stable name
        graph = self._graph
        self.predictor = graph("predictor")
        self.contract_pixels = graph("contract_pixels")
        self.residual = graph("residual")
        self.expand_pixels = graph("expand_pixels")
        self.contract = graph("contract")  # 16-bit and float content, in float32
        self.expand = graph("expand")
        self.piece_finish_unit = graph("piece_finish_unit")
        self.piece_expand1 = graph("piece_expand1")
        self.piece_expand2_moments = graph("piece_expand2_moments")
        self.piece_expand3 = graph("piece_expand3")
        self.piece_finish = graph("piece_finish")
        self.piece_residual = [
            (graph(f"piece_residual{b}_conv1"), graph(f"piece_residual{b}_conv2"))
            for b in range(RESIDUAL_BLOCKS)
        ]
        self._regions: dict[int, RegionGraphs] = {}  # by K, made on first use

    def regions(self, styles: int) -> RegionGraphs:
        """The regions graphs for K = ``styles`` styles (made, and registered in
        ``graphs``, on first use; the backend compiles each when it first runs)."""
        with self._lock:
            found = self._regions.get(styles)
            if found is None:
                found = self._regions[styles] = RegionGraphs(styles, self._graph)
            return found

    def _graph(self, name: str) -> Graph:
        graph = Graph(name, self)
        self.graphs[name] = graph
        return graph

    def _transformer_weights_read(self) -> GraphWeights:
        """The transformer's weights (reading the ONNX file imports onnx and ml_dtypes: a
        second of a start, so only the strip path and TensorFlow read them)."""
        from stylize.models.onnx_weights import read_weights

        with self._lock:
            if self._weights is None:
                self._weights = read_weights(self._transformer_weights)
            return self._weights

    @property
    def epsilon(self) -> float:
        """The instance norms' epsilon."""
        return self._transformer_weights_read().scalar(EPSILON_CONSTANT)

    def norm_params(self, style: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(gamma, beta), [C] each, of all 13 instance norms, in network order."""
        rows = self.norm_params_mixed(np.reshape(np.asarray(style, np.float32), (1, -1)))
        return [(gamma[0], beta[0]) for gamma, beta in rows]

    def norm_params_mixed(self, styles: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(gamma, beta), [K, C] each, of all 13 instance norms for K style vectors."""
        if self._projection is None:
            self._projection = style_projection(self._transformer_weights_read().convs)
        (gamma, gamma_bias), (beta, beta_bias), splits = self._projection
        vectors = np.asarray(styles, np.float32)
        edges = np.cumsum(splits)[:-1]
        gammas = np.split(vectors @ gamma + gamma_bias, edges, axis=1)
        betas = np.split(vectors @ beta + beta_bias, edges, axis=1)
        return list(zip(gammas, betas, strict=True))

    def transformer(self) -> TransformerNetwork:
        """The transformer in TensorFlow (built on first use)."""
        self.tf_function("residual")
        assert self._network is not None
        return self._network

    def tf_function(self, name: str) -> Callable[..., Any]:
        with self._lock:
            if self._functions is None:
                self._functions = self._build()
            if name not in self._functions and (region := _region_name(name)) is not None:
                assert self._network is not None
                made = self._network.regions_functions(region[1])
                self._functions.update({_regions_graph(n, region[1]): f for n, f in made.items()})
            return self._functions[name]

    def _build(self) -> dict[str, Callable[..., Any]]:
        from stylize.engine.style_predictor import StylePredictor  # TensorFlow: seconds
        from stylize.engine.transformer_network import TransformerNetwork
        from stylize.models.onnx_weights import read_weights

        predictor = self._predictor = StylePredictor(read_weights(self._predictor_weights))
        weights = self._weights or read_weights(self._transformer_weights)
        network = self._network = TransformerNetwork(weights)
        functions: dict[str, Callable[..., Any]] = {
            name: getattr(network, name)
            for name in self.graphs
            if name != "predictor"
            and not name.startswith("piece_residual")
            and not is_regions_graph(name)
        }
        functions["predictor"] = predictor.__call__
        for block, (conv1, conv2) in enumerate(network.piece_residual):
            functions[f"piece_residual{block}_conv1"] = conv1
            functions[f"piece_residual{block}_conv2"] = conv2
        return functions


# The regions graphs (engine/regions.py) of one K, by their names without the suffix.
REGION_GRAPHS = (
    "residual",
    "expand",
    "expand_pixels",
    "piece_expand1",
    "piece_expand2_moments",
    "piece_expand3",
    "piece_finish",
    "piece_finish_unit",
    *(f"piece_residual{b}_conv{n}" for b in range(RESIDUAL_BLOCKS) for n in (1, 2)),
)
_REGIONS_SUFFIX = "_regions"


def _regions_graph(name: str, styles: int) -> str:
    return f"{name}{_REGIONS_SUFFIX}{styles}"


def is_regions_graph(name: str) -> bool:
    """Whether ``name`` is one of a K's regions graphs (``<name>_regions<K>``)."""
    return _region_name(name) is not None


def _region_name(name: str) -> tuple[str, int] | None:
    """(base name, K) of a regions graph's name, else None."""
    base, _, styles = name.rpartition(_REGIONS_SUFFIX)
    return (base, int(styles)) if base and styles.isdigit() else None


class RegionGraphs:
    """The regions graphs for K styles (``REGION_GRAPHS``, named ``<name>_regions<K>``): K
    is fixed in each graph, so that each norm's per-pixel mix unrolls into element-wise
    work per style (``transformer_network._mixed_affine``)."""

    def __init__(self, styles: int, graph: Callable[[str], Graph]) -> None:
        self.styles = styles
        self._graphs = {name: graph(_regions_graph(name, styles)) for name in REGION_GRAPHS}
        self.residual, self.expand = self._graphs["residual"], self._graphs["expand"]
        self.expand_pixels = self._graphs["expand_pixels"]
        self.piece_residual = [
            (self[f"piece_residual{b}_conv1"], self[f"piece_residual{b}_conv2"])
            for b in range(RESIDUAL_BLOCKS)
        ]

    def __getitem__(self, name: str) -> Graph:
        return self._graphs[name]
