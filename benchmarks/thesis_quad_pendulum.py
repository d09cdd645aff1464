"""Thesis §6.2 / Fig. 6.3-6.4: quad pendulum swing-up, GPS vs ESAPS.

Thesis setup: 100 samples per iteration, 50 iterations, 10 trials, hyperparameters tuned per
algorithm. ``python benchmarks/thesis_quad_pendulum.py --help`` for the (smaller) run sizes.

The initial policy's std is 2 N m on every joint, not lqgx's default of a quarter of the torque
range (10 / 6 / 3 / 1.5 N m): with that much noise the samples spread so far that a model
linearized about the mean rollout says little about them. The first SAPS update from the default
predicted an expected cost of 4.6e3 and sampled 3.2e4; from std 2 the first SAPS/ESAPS updates
predicted 4734 and sampled 4772-4791 (measured at damping 0.2, 100 samples).
"""

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from thesis_common import main  # noqa: E402

if __name__ == "__main__":
    main("quad_pendulum", dict(trials=10, iterations=50, samples=100, algos="gps,esaps",
                               gps_eps="0.25,0.5,1", saps_eps="2", esaps_eps="8,32",
                               esaps_drop="8", initial_std=2.0))
