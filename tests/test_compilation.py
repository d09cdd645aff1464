"""``lqgx.compilation``: the persistent compilation cache (a second process loads the executable the
first one wrote; the off switch and an unwritable directory leave JAX alone) and the compile clock.

Each cache case runs in a fresh interpreter: JAX decides per process whether a cache is in use.
"""

import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp

from lqgx.compilation import CompileClock

PROBE = r"""
import json, sys
import jax, jax.numpy as jnp
hits = []
jax.monitoring.register_event_listener(
    lambda event, **_: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None)
jnp.arange(3.0) + 1.0            # an eager op before the call: the cache must still switch on
import lqgx
directory = sys.argv[1] if len(sys.argv) > 1 else None
path = lqgx.enable_compilation_cache(directory)
solve = jax.jit(lambda a, b: jnp.linalg.solve(a @ a.T + jnp.eye(6), b).sum())
solve(jnp.ones((6, 6)), jnp.arange(6.0)).block_until_ready()
print(json.dumps({"path": None if path is None else str(path), "hits": len(hits),
                  "config": jax.config.jax_compilation_cache_dir}))
"""


def probe(*args, **env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("LQGX_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    environment["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"   # cache even tiny programs
    environment.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], env=environment,
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_from_the_cache(tmp_path):
    directory = tmp_path / "jax"
    first = probe(directory)
    assert first["path"] == str(directory) == first["config"]
    assert first["hits"] == 0 and any(directory.iterdir())
    second = probe(directory)
    assert second["hits"] >= 1


def test_environment_variable_chooses_the_directory_and_can_switch_it_off(tmp_path):
    chosen = probe(LQGX_COMPILATION_CACHE=str(tmp_path / "env"), XDG_CACHE_HOME=str(tmp_path))
    assert chosen["path"] == str(tmp_path / "env") and any((tmp_path / "env").iterdir())
    default = probe(XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert default["path"] == str(tmp_path / "xdg" / "lqgx" / "jax")
    off = probe(tmp_path / "ignored", LQGX_COMPILATION_CACHE="off")
    assert off["path"] is None and off["config"] is None and not (tmp_path / "ignored").exists()


def test_a_directory_jax_was_given_is_kept(tmp_path):
    kept = probe(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "users"), XDG_CACHE_HOME=str(tmp_path))
    assert kept["path"] == kept["config"] == str(tmp_path / "users")
    assert not (tmp_path / "lqgx").exists()


def test_an_unwritable_directory_warns_and_leaves_the_cache_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = probe(blocker / "jax")
    assert result["path"] is None and result["config"] is None


def test_the_compile_clock_counts_nested_traces_once_and_cached_calls_not_at_all():
    @jax.jit
    def inner(x):
        return jnp.linalg.cholesky(x @ x.T + jnp.eye(x.shape[0]))

    @jax.jit
    def outer(x):
        return inner(x).sum() + inner(2.0 * x).sum()

    x = jnp.linspace(0.0, 1.0, 37 * 41).reshape(37, 41)   # a shape no other test compiles
    start = time.perf_counter()
    with CompileClock() as first:
        outer(x).block_until_ready()
    wall = time.perf_counter() - start
    assert len(first._spans) >= 3              # outer's trace holds inner's: the spans nest
    assert 0.0 < first.seconds <= first.wall <= wall
    with CompileClock() as again:
        outer(x).block_until_ready()
    assert again.seconds == 0.0
    spans = CompileClock()
    spans._spans[:] = [(0.0, 2.0), (0.5, 1.0), (3.0, 4.0), (3.5, 5.0)]
    assert spans.seconds == 4.0
