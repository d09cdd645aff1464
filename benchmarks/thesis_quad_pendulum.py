"""Thesis §6.2 / Fig. 6.3-6.4: quad pendulum swing-up, GPS vs ESAPS.

Thesis setup: 100 samples per iteration, 50 iterations, 10 trials, hyperparameters tuned per
algorithm. ``python benchmarks/thesis_quad_pendulum.py --help`` for the (smaller) run sizes.

The initial policy's std is 2 N m on every joint, not lqgx's default of a quarter of the torque
range (10 / 6 / 3 / 1.5 N m): with that much noise the samples spread so far that a model
linearized about the mean rollout says little about them. The first SAPS update from the default
predicted an expected cost of 4.6e3 and sampled 3.2e4; from std 2 the first SAPS/ESAPS updates
predicted 4734 and sampled 4772-4791 (measured at damping 0.2, 100 samples).

ESAPS's entropy floor (``--esaps-entropy-drop``: nats below the initial policy's 8.45 per step)
is its most sensitive hyperparameter here. Screened at eps 32, 1 trial, 50 iterations, autodiff:
drop 8 / 12 / 16 -> final sampled cost 139 (3 trials) / 46 / 214. With the floor the policy keeps
exploration noise the true pendulum punishes: at drop 12 the model about the mean rollout
predicts 3.1 (below GPS's 5.45) while the samples cost 10-50. Floors relative to the current
policy (``--esaps-floor relative``, drop 0.25 / 0.5 / 1 nats per update) ended at 3494 / 6353 /
408, and the thesis's ``--linearization samples`` at 2700 (GPS eps 0.5 there: 3996).
"""

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from thesis_common import main  # noqa: E402

if __name__ == "__main__":
    main("quad_pendulum", dict(trials=10, iterations=50, samples=100, algos="gps,esaps",
                               gps_eps="0.25,0.5,1", saps_eps="2", esaps_eps="32",
                               esaps_drop="8,12,16", initial_std=2.0))
