"""A uniform noise component: constant density ``V⁻¹`` over a box holding the data.

Banfield & Raftery (1993), Fraley & Raftery (1998, 2002), mclust's ``noise``/``Vinv``:
``p(x) = π_0 V⁻¹ + Σ_k π_k p_k(x)``. The noise "component" has no parameters of its own;
its weight ``π_0`` is one more mixture weight (:class:`~emkit.latent.MixtureModel`'s
``noise=``). ``V`` is by default :func:`hypervolume`: the smaller of the volumes of the data's
bounding box in the original coordinates and in their principal coordinates (mclust's
``hypvol``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UniformNoise:
    """Constant density ``inverse_volume = V⁻¹`` over the box ``{centre + R u : lower ≤ u ≤ upper}``.

    ``rotation`` ``R`` (d, d) is orthogonal (the identity for a box in the original coordinates);
    the box is used only to draw noise rows (:meth:`sample`). Its volume ``Π (upper − lower)``
    equals ``V`` when the box came from :func:`hypervolume`; with a user's ``V⁻¹`` the box is
    the data's bounding box, whose volume may differ.
    """

    inverse_volume: float
    centre: np.ndarray
    rotation: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        value = self.inverse_volume
        if not (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
                and np.isfinite(value) and value > 0):
            raise ValueError(f"noise: the noise density Vinv must be a positive finite number, got {value!r}")

    @property
    def log_density(self) -> float:
        """``log V⁻¹``."""
        return float(np.log(self.inverse_volume))

    def sample(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """``n_samples`` rows uniform over the box, ``centre + R u`` with ``u_j ~ U(lower_j, upper_j)``."""
        u = self.lower + rng.uniform(size=(n_samples, self.lower.size)) * (self.upper - self.lower)
        return self.centre + u @ self.rotation.T

    def state(self) -> dict[str, np.ndarray]:
        """The arrays that define it (for saving): ``Vinv``, ``centre``, ``rotation``, ``lower``, ``upper``."""
        return {"Vinv": np.array(self.inverse_volume), "centre": self.centre, "rotation": self.rotation,
                "lower": self.lower, "upper": self.upper}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], d: int) -> UniformNoise:
        """Inverse of :meth:`state`, checked for ``d`` features (ValueError naming the entry)."""
        shapes = {"Vinv": (), "centre": (d,), "rotation": (d, d), "lower": (d,), "upper": (d,)}
        arrays = {}
        for name, shape in shapes.items():
            array = np.asarray(state[name], dtype=float)
            if array.shape != shape or not np.all(np.isfinite(array)):
                raise ValueError(f"noise_{name}: expected finite numbers of shape {shape}, got shape {array.shape}")
            arrays[name] = array
        if not np.allclose(arrays["rotation"] @ arrays["rotation"].T, np.eye(d), atol=1e-8):
            raise ValueError("noise_rotation: expected an orthogonal matrix")
        if np.any(arrays["upper"] < arrays["lower"]):
            raise ValueError("noise_upper: expected upper ≥ lower")
        return cls(float(arrays["Vinv"]), arrays["centre"], arrays["rotation"], arrays["lower"], arrays["upper"])

    @classmethod
    def of_data(cls, X: np.ndarray, inverse_volume: float | None = None) -> UniformNoise:
        """The noise over complete rows ``X``: ``V`` by :func:`hypervolume` (its box kept for
        sampling), or the given ``inverse_volume`` with the coordinate bounding box."""
        X = np.asarray(X, dtype=float)
        if inverse_volume is None:
            volume, box = hypervolume(X)
            return cls(1.0 / volume, *box)
        d = X.shape[1]
        return cls(inverse_volume, np.zeros(d), np.eye(d), X.min(axis=0), X.max(axis=0))


def hypervolume(X: np.ndarray) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """mclust's ``hypvol``: ``V = min(Π_j range(x_j), Π_j range(s_j))``, ``s`` the principal
    coordinates ``(x − x̄) E`` (``E``: eigenvectors of the covariance); one column: the range.

    Returns ``V`` and its box ``(centre, rotation, lower, upper)`` (see :class:`UniformNoise`).
    Ranges are compared in log space; a zero range gives ValueError (no volume).
    """
    X = np.asarray(X, dtype=float)
    d = X.shape[1]
    lower, upper = X.min(axis=0), X.max(axis=0)
    box = (np.zeros(d), np.eye(d), lower, upper)
    log_volume = _log_volume(lower, upper)
    if d > 1:
        centre = X.mean(axis=0)
        _, vectors = np.linalg.eigh(np.cov(X - centre, rowvar=False))
        scores = (X - centre) @ vectors
        principal = (centre, vectors, scores.min(axis=0), scores.max(axis=0))
        principal_log = _log_volume(principal[2], principal[3])
        if principal_log < log_volume:
            box, log_volume = principal, principal_log
    if not np.isfinite(log_volume):
        raise ValueError("noise: the data span no volume (a column, or a principal direction, is constant); "
                         "give the noise density Vinv as a number")
    return float(np.exp(log_volume)), box


def _log_volume(lower: np.ndarray, upper: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(upper - lower)))
