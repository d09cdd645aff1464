"""Thesis §6.2 / Fig. 6.3-6.4: quad pendulum swing-up, GPS vs ESAPS.

Thesis setup: 100 samples per iteration, 50 iterations, 10 trials, hyperparameters tuned per
algorithm. ``python benchmarks/thesis_quad_pendulum.py --help`` for the (smaller) run sizes.
"""

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from thesis_common import main  # noqa: E402

if __name__ == "__main__":
    main("quad_pendulum", dict(trials=10, iterations=50, samples=100, algos="gps,esaps",
                               gps_eps="0.5,2", saps_eps="2", esaps_eps="2,8", esaps_drop="1"))
