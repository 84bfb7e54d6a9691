"""Which runtime executes the networks: TensorFlow, or OpenVINO on CPUs.

The networks are defined once, in TensorFlow (``transformer_network.py``,
``style_predictor.py``). On a GPU TensorFlow runs them. On a CPU, OpenVINO
runs the same ``tf.function`` graphs after ``openvino.convert_model``: its CPU
plugin (oneDNN kernels, fused post-ops, bf16 on CPUs with AVX-512 BF16 or AMX)
ran the network faster than TensorFlow on the benchmark machine (BENCHMARKS.md).
TensorFlow stays the fallback where OpenVINO is not installed or has no CPU
plugin. Converting a graph takes seconds, so converted models are kept in a
cache directory keyed by weights, network code and runtime version
(``cache_dir``): a daemon's first start converts, later ones read them back.

bf16 inference precision changes outputs by a mean of under one level of 255
against TensorFlow's float32 (the bound is stated and enforced in
tests/test_backends.py); ``STYLIZE_PRECISION=f32`` turns it off. The style
predictor always runs in f32: in bf16 its vector drifts by 0.09.

Layers between graphs (the channels-first rank-4 float inputs and outputs: the
whole-image stages' features, the strip path's stored layers) cross the OpenVINO
boundary in the backend's ``storage`` dtype: bf16 where the network computes in
bf16 (the values it computes anyway, so no extra rounding and no conversion
kernels; a float32 boundary kept the residual blocks' sums in float32 and cost
the whole-image path its gain from channels-first layers, BENCHMARKS.md), else
float16. The graphs themselves are float32 in TensorFlow; OpenVINO's
pre/post-processing retypes their boundaries.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

# `import openvino` reports usage to Google Analytics unless the user opted out: it
# writes an id under ~/intel and sends from a forked process. A daemon must not phone
# home, and with no network that fork blocks the process's exit (a SIGTERM'd daemon
# hung for tens of seconds). With this package unimportable OpenVINO's converter uses
# its own no-op stub (openvino/tools/ovc/telemetry_stub.py). Before any openvino import.
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

BACKEND_VARIABLE = "STYLIZE_BACKEND"  # auto (default), tensorflow or openvino
PRECISION_VARIABLE = "STYLIZE_PRECISION"  # auto (default: bf16 where the CPU has it) or f32
CACHE_VARIABLE = "STYLIZE_CACHE_DIR"
_CHOICES = ("auto", "tensorflow", "openvino")
# a tf.function with an input signature, or a handle that builds one (graphs.Graph)
Function = Callable[..., Any]
FLOAT32 = np.dtype(np.float32)
# bf16 layers are held as their bits: nothing computes with them outside a graph (they
# are handed on, copied into strips, padded), and numpy's bf16 type (ml_dtypes) costs
# 0.55 s of a start to register, which the whole-image path would pay on its first call.
BF16_BITS = np.dtype(np.uint16)


def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """The float32 values of bf16 bits (exact: bf16 is float32's upper half)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


class Backend(Protocol):
    name: str  # e.g. "openvino-bf16", "tensorflow"
    reason: str  # why it was chosen, for GetInfo and the log
    storage_name: str  # the name of ``storage`` (known without making the dtype)

    @property
    def storage(self) -> np.dtype:
        """numpy dtype of the layers between graphs (OpenVINO: bf16 or float16)."""
        ...

    def prepare(
        self, functions: dict[str, Function], namespace: str, precise: set[str], passes: set[str]
    ) -> None:
        """Name the functions ``run`` will be given (for caches); ``precise`` ones stay f32;
        ``passes`` ones run strip after strip in a pass (their scratch is freed when the
        thread moves on to another graph)."""
        ...

    def run(self, function: Function, *args: np.ndarray) -> list[np.ndarray]:
        """Call ``function`` on numpy arrays; its outputs as numpy arrays."""
        ...

    def release_scratch(self) -> None:
        """Free what the runtime keeps between calls of graphs that are not strip pieces
        (before a job that needs the memory); they allocate it again when next called."""
        ...

    def compile(self, function: Function) -> None:
        """Make ``function`` ready to run now, not on its first call (warm-up)."""
        ...

    def release_idle(self) -> None:
        """Free all the memory the runtime keeps between jobs (the daemon is idle)."""
        ...


@dataclass
class TensorFlowBackend:
    reason: str
    name: str = "tensorflow"
    storage: np.dtype = FLOAT32
    storage_name: str = "float32"

    def prepare(
        self, functions: dict[str, Function], namespace: str, precise: set[str], passes: set[str]
    ) -> None:
        """Nothing to prepare: TensorFlow traces on first call."""

    def run(self, function: Function, *args: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        outputs = function(*args)
        if isinstance(outputs, tf.Tensor):
            return [outputs.numpy()]
        return [t.numpy() for t in outputs]

    def release_scratch(self) -> None:
        """TensorFlow's allocator keeps nothing per graph."""

    def compile(self, function: Function) -> None:
        """TensorFlow traces on the first call."""

    def release_idle(self) -> None:
        """TensorFlow's allocator keeps nothing per graph."""


class OpenVinoBackend:
    """Each tf.function converted and compiled once, on first use (or in warm-up)."""

    def __init__(
        self, precision: str, threads: int, reason: str, cache: Path | None = None
    ) -> None:
        import openvino as ov

        self._ov = ov
        self._core = ov.Core()
        self.precision = precision
        self.threads = threads
        self.name = f"openvino-{precision}"
        self.reason = reason
        self.runtime_version = ov.__version__
        self.storage_name = "bfloat16" if precision == "bf16" else "float16"
        self._storage_type = ov.Type.bf16 if precision == "bf16" else ov.Type.f16
        self._cache = cache  # converted models (IR) and compiled blobs, keyed by graph
        if cache is not None:
            self._core.set_property({"CACHE_DIR": str(cache / "compiled")})
        self._compiled: dict[Any, Any] = {}
        self._lock = threading.Lock()
        # Each thread's live infer request (the graph it last ran), by thread id, so that
        # an idle release can drop them all (``release_idle``).
        self._requests: dict[int, tuple[Function, Any]] = {}
        self._largest: dict[Function, int] = {}  # bytes of a whole-image graph's largest input
        self._names: dict[Any, str] = {}
        self._precise: set[str] = set()
        self._passes: set[str] = set()

    @property
    def storage(self) -> np.dtype:
        return BF16_BITS if self.precision == "bf16" else np.dtype(np.float16)

    def prepare(
        self, functions: dict[str, Function], namespace: str, precise: set[str], passes: set[str]
    ) -> None:
        self._names = {function: f"{namespace}/{name}" for name, function in functions.items()}
        self._precise = {f"{namespace}/{name}" for name in precise}
        self._passes = {f"{namespace}/{name}" for name in passes}

    def _retyped(self, model: Any) -> Any:
        """``model`` with its layers (float32, channels first: [1, C, H, W] with C fixed)
        in the storage dtype. Pixels ([1, H, W, 3]: 16-bit and float images)
        stay float32, so deep images are not rounded to bf16 at the boundary."""
        from openvino.preprocess import PrePostProcessor

        def layer(port: Any) -> bool:
            shape = port.get_partial_shape()
            channels_first = shape.rank == 4 and shape[1].is_static and shape[3].is_dynamic
            return bool(port.get_element_type() == self._ov.Type.f32 and channels_first)

        steps = PrePostProcessor(model)
        for index, port in enumerate(model.inputs):
            if layer(port):
                steps.input(index).tensor().set_element_type(self._storage_type)
        for index, port in enumerate(model.outputs):
            if layer(port):
                steps.output(index).tensor().set_element_type(self._storage_type)
        return steps.build()

    def _model(self, function: Function, key: str | None) -> Any:
        """The function's OpenVINO model: read back, or converted from TensorFlow (seconds,
        and the only time this backend needs TensorFlow)."""
        folder = self._cache / key if self._cache is not None and key else None
        if folder is not None and (folder / "model.xml").exists():
            return self._core.read_model(str(folder / "model.xml"))
        model = self._ov.convert_model(_traceable(function))
        if folder is not None:
            try:
                self._save(model, folder)
            except OSError as error:  # a read-only cache costs start-up time only
                log.warning("cannot cache the OpenVINO model at %s: %s", folder, error)
        return model

    def _cached(self, function: Function) -> bool:
        key = self._names.get(function)
        return self._cache is not None and key is not None and (self._cache / key).is_dir()

    def _save(self, model: Any, folder: Path) -> None:
        """Write model.xml and .bin beside ``folder``, then rename: daemons may race."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".partial-"))
        self._ov.save_model(model, str(scratch / "model.xml"), compress_to_fp16=False)
        try:
            scratch.rename(folder)
        except OSError:  # another process saved it first
            shutil.rmtree(scratch, ignore_errors=True)

    def compile(self, function: Function) -> None:
        self._compile(function)

    def _compile(self, function: Function) -> Any:
        with self._lock:
            compiled = self._compiled.get(function)
            if compiled is None:
                key = self._names.get(function)
                precision = "f32" if key in self._precise else self.precision
                model = self._model(function, key)
                if key not in self._precise:
                    model = self._retyped(model)
                compiled = self._core.compile_model(
                    model,
                    "CPU",
                    {
                        "INFERENCE_PRECISION_HINT": precision,
                        "PERFORMANCE_HINT": "LATENCY",
                        "INFERENCE_NUM_THREADS": self.threads,
                    },
                )
                self._compiled[function] = compiled
            return compiled

    def run(self, function: Function, *args: np.ndarray) -> list[np.ndarray]:
        # One live infer request per thread: a request holds its graph's intermediate
        # tensors, so keeping one per graph would hold the strip path's 16 graphs' worth
        # (about 1 GB); a strip pass calls one graph many times, then moves on.
        thread = threading.get_ident()
        current = self._requests.get(thread)
        if current is None or current[0] is not function:
            if current is not None and self._names.get(current[0]) in self._passes:
                self._release(current[0])
            current = self._requests[thread] = (
                function,
                self._compile(function).create_infer_request(),
            )
        inputs = [self._tensor(np.ascontiguousarray(a)) for a in args]
        outputs = current[1].infer(inputs, share_inputs=True, share_outputs=True).to_tuple()
        if self._names.get(function) not in self._passes:
            size = max(a.nbytes for a in (*args, *outputs))
            if size > self._largest.get(function, 0):
                self._largest[function] = size
        # OpenVINO hands bf16 outputs out as float16-typed arrays of the same bits.
        return [
            o.view(BF16_BITS) if port.get_element_type() == self._ov.Type.bf16 else o
            for o, port in zip(outputs, current[1].model_outputs, strict=True)
        ]

    def release_scratch(self) -> None:
        """A whole-image graph keeps the intermediate tensors of the largest image it ran
        (after 4-MP jobs, a 67-MP strip job in the same process peaked at 3.3 GB
        instead of 2.9-3.0, BENCHMARKS.md); strip pieces free theirs after each pass."""
        with self._lock:
            idle = [f for f in self._compiled if self._names.get(f) not in self._passes]
        for function in idle:
            self._release(function)

    def release_idle(self) -> None:
        """Give back what an idle daemon need not keep: every graph's scratch, and each
        whole-image graph that ran a large image compiled afresh (from the compiled-model
        cache: 0.05-0.1 s). ``release_memory`` leaves a compiled model the buffers of the
        largest image it ran (measured: 220 MB after one 12-MP image, BENCHMARKS.md).
        Only graphs in the converted-model cache: others would be converted again."""
        self.release_scratch()
        with self._lock:
            large = {
                f
                for f, size in self._largest.items()
                if size >= LARGE_INPUT_BYTES and self._cached(f)
            }
            for function in large:
                self._compiled.pop(function, None)
                del self._largest[function]
            for thread, (function, _) in list(self._requests.items()):
                if function in large:  # a thread in a call with it holds it until it returns
                    self._requests.pop(thread, None)
        for function in large:
            self._compile(function)  # ready for the next job, which need not wait for it

    def _release(self, function: Function) -> None:
        """Free a graph's scratch: a strip piece's once this thread's pass with it is
        over, the whole-image graphs' before a strip job (``release_scratch``).

        A compiled model keeps the intermediate tensors of the largest strip it ran
        until released: 16 pieces' worth would stay in the daemon after a large image
        (and taller strips would cost 0.6 GB more at 8192², BENCHMARKS.md). OpenVINO
        refuses while another thread's request on it runs; that thread's pass frees it.
        """
        try:
            self._compiled[function].release_memory()
        except RuntimeError as error:  # busy: another job is in a pass with it
            log.debug("kept %s's scratch: %s", self._names.get(function), error)

    def _tensor(self, array: np.ndarray) -> Any:
        """bf16 layers (``BF16_BITS``) are typed for OpenVINO (no copy); no graph takes
        any other 16-bit integers."""
        if array.dtype != BF16_BITS:
            return array
        return self._ov.Tensor(array, list(array.shape), self._ov.Type.bf16)


# A whole-image graph whose largest input or output had this many bytes is compiled afresh
# when the daemon is idle (``OpenVinoBackend.release_idle``): from about 4 MP on.
LARGE_INPUT_BYTES = 32 << 20


def _traceable(function: Function) -> Function:
    """The tf.function itself (a ``graphs.Graph`` builds it now)."""
    build = getattr(function, "tf_function", None)
    return build() if build is not None else function


def cache_dir() -> Path:
    """Where converted models are kept: $STYLIZE_CACHE_DIR, else ~/.cache/stylize/openvino."""
    override = os.environ.get(CACHE_VARIABLE)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stylize" / "openvino"


def cpu_threads() -> int:
    """The cores this process may run on (its affinity mask), as the thread count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def openvino_precision() -> tuple[str, str]:
    """bf16 where the CPU computes in it (unless STYLIZE_PRECISION=f32), else f32; and why."""
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    wanted = os.environ.get(PRECISION_VARIABLE, "auto")
    if wanted == "f32":
        return "f32", f"{PRECISION_VARIABLE}=f32"
    if "BF16" in capabilities:
        return "bf16", "the CPU computes in bf16 (AVX-512 BF16 or AMX)"
    return "f32", "the CPU has no bf16 arithmetic"


# Device nodes of the GPUs a TensorFlow build can use (CUDA; ROCm; WSL2's GPU).
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


def tensorflow_gpus() -> list[Any]:
    """The GPUs TensorFlow sees. Where the machine has no GPU device node TensorFlow could
    open, none, without importing it (seconds and hundreds of MB of a daemon's start)."""
    if not any(os.path.exists(node) for node in GPU_DEVICE_NODES):
        return []
    import tensorflow as tf

    return list(tf.config.list_physical_devices("GPU"))


def choose_backend() -> Backend:
    """TensorFlow on a GPU; OpenVINO on CPUs where it is installed; TensorFlow otherwise."""
    wanted = os.environ.get(BACKEND_VARIABLE, "auto")
    if wanted not in _CHOICES:
        raise ValueError(f"{BACKEND_VARIABLE} must be one of {', '.join(_CHOICES)}, not {wanted!r}")
    if wanted == "tensorflow":
        return TensorFlowBackend(reason=f"{BACKEND_VARIABLE}=tensorflow")
    gpus = tensorflow_gpus() if wanted != "openvino" else []
    if gpus:
        return TensorFlowBackend(reason="TensorFlow found a GPU")
    try:
        precision, why = openvino_precision()
    except Exception as error:  # missing package or no usable CPU plugin
        if wanted == "openvino":
            raise
        return TensorFlowBackend(reason=f"OpenVINO unavailable ({error}); TensorFlow on the CPU")
    threads = cpu_threads()
    return OpenVinoBackend(
        precision,
        threads,
        f"CPU without a GPU: OpenVINO, {threads} threads, {precision} ({why})",
        cache_dir(),
    )
