"""Thesis §6.1 / Fig. 6.1-6.2: double pendulum swing-up, GPS vs SAPS vs ESAPS.

Thesis setup: 25 samples per iteration, 25 iterations, 10 trials, hyperparameters tuned per
algorithm. ``python benchmarks/thesis_double_pendulum.py --help`` for the (smaller) run sizes.
"""

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from thesis_common import main  # noqa: E402

if __name__ == "__main__":
    main("double_pendulum", dict(trials=10, iterations=25, samples=25, algos="gps,saps,esaps",
                                 gps_eps="0.5,2", saps_eps="2,8", esaps_eps="2,8",
                                 esaps_drop="1"))
