"""Compilation: JAX's persistent compilation cache (switched on for the ``lqgx`` command and the
examples) and a clock for the compile part of a run's wall time.

Most of a short lqgx run is XLA compiling the jitted solves. With the persistent cache, a second
process that builds the same computation (same shapes, dtypes, flags and jax version) loads the
executable from disk instead of compiling it again.

Where the cache lives, in order:

1. ``LQGX_COMPILATION_CACHE``: a directory; or ``0`` / ``off`` / ``false`` / ``no`` to switch the
   cache off (then this module changes nothing);
2. a directory the user already gave JAX (``JAX_COMPILATION_CACHE_DIR`` or
   ``jax.config.update("jax_compilation_cache_dir", ...)``), which is left as it is;
3. ``$XDG_CACHE_HOME/lqgx/jax``, by default ``~/.cache/lqgx/jax``.

The library itself never turns the cache on (``import lqgx`` does not); the CLI, ``make demo``
and ``examples/`` call :func:`enable_compilation_cache`. Benchmarks leave it off,
because they report compile time. Entries are never evicted: ``rm -rf ~/.cache/lqgx/jax`` clears
them.

:class:`CompileClock` measures how much of a block's wall time JAX spends tracing, lowering and
compiling (or loading from the cache): the CLI and the demo report it next to the total.
"""

from __future__ import annotations

import os
import pathlib
import time
import warnings

import jax

OFF = {"0", "off", "false", "no"}
ENV_VAR = "LQGX_COMPILATION_CACHE"
MIN_COMPILE_SECONDS = 0.5   # cache what took at least this long to compile (JAX's default: 1 s)


def default_directory() -> pathlib.Path:
    """``$XDG_CACHE_HOME/lqgx/jax`` (``~/.cache/lqgx/jax`` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "lqgx" / "jax"


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Switch JAX's persistent compilation cache on; returns its directory, or None if it is off.

    ``directory`` overrides the search above except for ``LQGX_COMPILATION_CACHE=off``, which
    always wins (the user's off switch). A directory that cannot be created gives a warning and
    leaves the cache off. Computations compiled before the call are not cached.
    """
    setting = os.environ.get(ENV_VAR, "").strip()
    if setting.lower() in OFF:
        return None
    if directory is None and setting:
        directory = setting
    if directory is None and jax.config.jax_compilation_cache_dir:
        return pathlib.Path(jax.config.jax_compilation_cache_dir)
    path = pathlib.Path(directory).expanduser() if directory is not None else default_directory()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        warnings.warn(f"lqgx: compilation cache off, cannot create {path}: {error} "
                      f"(set {ENV_VAR} to a writable directory, or to 'off')", stacklevel=2)
        return None
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", str(path))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    # JAX decides once per process, at its first compile, whether a cache is in use; an eager op
    # before this call (an import that builds an array) would otherwise leave the cache off.
    compilation_cache.reset_cache()
    return path


# JAX's monitoring events for the three stages of turning a jitted call into an executable
# (jax._src.dispatch); a persistent-cache hit happens inside the backend-compile span.
COMPILE_EVENTS = frozenset({"/jax/core/compile/jaxpr_trace_duration",
                            "/jax/core/compile/jaxpr_to_mlir_module_duration",
                            "/jax/core/compile/backend_compile_duration"})


class CompileClock:
    """Seconds of a ``with`` block's wall time that JAX spent tracing, lowering and compiling.

        with CompileClock() as clock:
            result = jax.block_until_ready(lqgx.gps(system, 0.1))
        clock.wall             # the block's wall time
        clock.seconds          # its compile part; the rest is running

    A function jitted inside another is traced inside the outer trace: the event spans overlap, and
    they are merged so that every second counts once. The listener is process-wide: compiles
    that other threads run during the block count too.
    """

    def __init__(self):
        self._spans: list[tuple[float, float]] = []
        self._start = self._end = None

    def _record(self, event: str, start_time: float, end_time: float, **_) -> None:
        if event in COMPILE_EVENTS:
            self._spans.append((start_time, end_time))

    def __enter__(self) -> "CompileClock":
        self._spans.clear()
        jax.monitoring.register_event_time_span_listener(self._record)
        self._start, self._end = time.perf_counter(), None
        return self

    def __exit__(self, *exc_info) -> None:
        self._end = time.perf_counter()
        jax.monitoring.unregister_event_time_span_listener(self._record)

    @property
    def wall(self) -> float:
        """Wall time of the block (so far, while inside it)."""
        if self._start is None:
            return 0.0
        return (self._end if self._end is not None else time.perf_counter()) - self._start

    @property
    def seconds(self) -> float:
        """The union of the recorded spans' lengths."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self._spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total
