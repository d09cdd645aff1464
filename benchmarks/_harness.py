"""What the benchmark scripts share: wall-clock medians and the JSON report (standard library
only, so a script that also runs under a peer's interpreter can use it)."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import time
from typing import Any, Callable


def machine(**extra) -> dict:
    """Platform, processor model, CPU counts and Python version, plus ``extra`` fields."""
    model = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "processor": model or platform.processor(),
            "cpu_count": os.cpu_count(), "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), **extra}


def write_report(out: str | os.PathLike, name: str, report: dict) -> pathlib.Path:
    """``report`` as ``out/name.json`` (directories made), announced on stdout."""
    path = pathlib.Path(out) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")
    return path


def median_seconds(run: Callable[[], Any], repeats: int) -> tuple[Any, dict]:
    """Call ``run`` once (compile, warm-up), then ``repeats`` times: (last output, {"first_s",
    "compile_s" = first minus median, "solve_s" = median, "spread_s" = [min, max], "runs_s"}).
    ``run`` must block until its result is ready (``jax.block_until_ready``)."""
    start = time.perf_counter()
    out = run()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return out, {"first_s": first, "compile_s": first - median, "solve_s": median,
                 "spread_s": [min(times), max(times)], "runs_s": times}
