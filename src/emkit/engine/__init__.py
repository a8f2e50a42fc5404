"""The EM engine: one loop, its bookkeeping and its accelerator, shared by every model."""

from .data_pass import DataPass
from .fit import fit
from .model import EMModel, Params, Regularization, Stats
from .result import EMResult, Trace
from .squarem import Squarem
from .stats import add_stats, scale_stats, sum_stats
from .stopping import PerSampleChange, RelativeChange, StoppingRule

__all__ = ["fit", "DataPass", "EMModel", "Params", "Regularization", "Stats", "EMResult", "Trace", "Squarem", "StoppingRule", "RelativeChange", "PerSampleChange", "add_stats", "scale_stats", "sum_stats"]
