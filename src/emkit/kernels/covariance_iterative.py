"""mclust's covariance models whose M-step is iterative: VEI, VEE, VEV, EVE and VVE.

mclust writes ``Σ_k = λ_k D_k A_k D_kᵀ`` (volume ``λ_k``, shape ``A_k`` diagonal with ``det A_k =
1``, orientation ``D_k`` orthogonal); a letter per factor says whether it is Equal across the
components, Varying, or the Identity. These five have no closed-form M-step: with the weighted
scatters ``S_k`` (``W_k = n_k S_k``) it minimises

    f(Σ) = Σ_k n_k [log det Σ_k + tr(S_k Σ_k⁻¹)]      (−2 × the covariance part of Q)

by block-coordinate steps, each an exact conditional minimum or a majorize–minimize step, so ``f``
never increases (Celeux & Govaert 1995, Pattern Recognition 28; Browne & McNicholas 2014, ADAC 8
for the common orientation):

* VEI ``λ_k B`` (``B`` diagonal) as mclust's meVEI: ``λ_k = tr(S_k B⁻¹)/d``, then
  ``B ∝ diag Σ_k n_k S_k / λ_k``, from ``λ_k = 1``, ``B = I`` at the first M-step;
* VEE ``λ_k C`` as mclust's meVEE: ``C ∝ Σ_k n_k S_k / λ_k`` (``det C = 1``), then
  ``λ_k = tr(S_k C⁻¹)/d``, from ``λ_k = 1`` at every M-step;
* VEV ``λ_k D_k A D_kᵀ``: ``D_k`` the eigenvectors of ``S_k`` (eigenvalues ``ω_k`` decreasing,
  optimal for every decreasing ``A``), then ``λ_k = Σ_j ω_kj/(d a_j)`` and ``A ∝ Σ_k n_k ω_k/λ_k``,
  as mclust's meVEV, from ``A ∝ Σ_k n_k ω_k`` at the first M-step;
* EVE ``λ D A_k Dᵀ`` and VVE ``λ_k D A_k Dᵀ`` as mclust's meEVE/meVVE: Browne & McNicholas's
  two MM steps for ``D`` given ``Λ_k = λ_k A_k`` (majorizers of ``Σ_k tr(W_k D Λ_k⁻¹ Dᵀ)``
  from ``W_k ≼ λ_max(W_k) I`` and from ``Λ_k⁻¹ ≼ max_j Λ_kj⁻¹ I``; each minimised over the
  orthogonal matrices by an SVD), then ``Λ_k`` in closed form from ``t_k = diag(Dᵀ S_k D)``;
  from ``D = I``, ``A_k = 1`` at the first M-step and the previous ``D``, ``Λ_k`` after it.
  (mclust's VVE weighs its ``D`` steps by the shapes ``A_k`` alone: given the ``Λ_k`` such a step
  can raise ``f`` when the volumes differ; here they are weighted by ``Λ_k``.)

After the first M-step each starts from the previous one's parameters (but VEE). An M-step stops
as mclust's: when what it watches changes by at most ``tol·(1 + |value|)`` (default ``sqrt(eps)``;
VEI, VEV: each volume and shape from the start on; VEE, VVE: ``f``; EVE: mclust's
``Σ_k tr(A_k⁻¹ Dᵀ W_k D) = n d λ``; these two from the first sweep on) or after ``max_iter`` sweeps
(default 1000). No step increases ``f``, and a VEE M-step whose cold start stops above the
previous covariances goes on from them, so EM (a generalised EM when the inner loop stops early)
never decreases the monitored log-likelihood (with ``reg_covar = 0``). ``reg_covar`` is added to every
``S_k`` before the constrained fit, so the result keeps the model's constraints (for the
eigenvalues of ``Σ_k`` it is a floor only on average) and, as with scikit-learn's floor, the
log-likelihood may then dip by about what the floor gives up. The covariances are stored as full
``(k, d, d)`` matrices, so densities, sampling, missing values and Dask are those of ``full``.
The free parameters (standard errors) are the log volumes, the first ``d − 1`` log shapes and the
strictly lower entries of the skew generator ``K`` of each orientation ``D = exp K`` (VEE: of the
symmetric ``log C``): the Hessian and the bootstrap work; Louis and SEM need covariances linear
in their parameters and say so.

With a conjugate prior (:mod:`emkit.kernels.mclust_prior`) the M-step is the exact posterior mode:
with the posterior scatters ``W'_k = W_k + Ψ_k`` (``Ψ_k`` with the means' ``κ δ_k δ_kᵀ``) and the
prior's exponent ``c_k`` of ``−½ log|Σ_k|`` added to the counts, ``n'_k = n_k + c_k``, the log
posterior's covariance part is ``−½ Σ_k [n'_k log|Σ_k| + tr(Σ_k⁻¹ W'_k)]``, the ML objective's form,
so the same inner loop runs on ``S'_k = W'_k/n'_k`` and weights ``n'_k`` (each step monotone in
it). A varying volume (VEI, VEE, VEV, VVE) has the prior on each ``Σ_k``: VEI, diagonal, an
inverse-gamma on each variance as VVI, ``c_k = ν + 2``, the ellipsoidal ones an inverse-Wishart,
``c_k = ν + d + 1`` (VEE and VVE, which mclust has no prior for, alike). EVE's one volume takes the
shared-volume convention of EVI, EEV and EVV: the scale in every component and the common
determinant once, ``c = ν + d + 1``, split as ``c/G`` per component (the objective depends only on
the sum). mclust's own loops run on the same ``W'_k`` but are not these modes: ``msveip`` divides
VEI's volumes by ``d n_k + ν + 3`` (the exponent once per volume, not per variance), ``msvevp``
VEV's by ``d n_k`` (``ν`` left out); emkit takes the exact mode, as for the closed-form models.
"""

from __future__ import annotations

import numpy as np

from .covariance_structures import FULL, ILL_DEFINED_COVARIANCE, STRUCTURES, Full

#: The smallest ratio of a covariance's eigenvalues accepted (below it the component has collapsed
#: and its density and the inner iteration's steps are rounding).
MIN_CONDITION = 1e-13

#: Golden-ratio weights that separate the components' eigenvalues when a common orientation is read
#: off the previous covariances (any positive combination of ``D Λ_k Dᵀ`` has eigenvectors ``D``).
_GOLDEN = 0.6180339887498949


def _geometric_normalised(values: np.ndarray) -> np.ndarray:
    """``values / (Π values)^{1/d}`` along the last axis: a shape with determinant one."""
    return values / np.exp(np.mean(np.log(values), axis=-1, keepdims=True))


def _positive(values: np.ndarray, model: str) -> np.ndarray:
    """``values``, or a ValueError when some are not positive and finite (a degenerate scatter)."""
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"covariances: a component's scatter is degenerate under {model!r}. "
                         f"{ILL_DEFINED_COVARIANCE}")
    return values


class IterativeStructure(Full):
    """A constrained ``λ_k D_k A_k D_kᵀ`` model fitted by an inner iteration; stored like full.

    Parameters
    ----------
    tol : float
        Inner tolerance on the change of ``f`` relative to ``max(1, |f|)``.
    max_iter : int
        Inner iteration cap per M-step (an early stop is a generalised EM step).
    """

    def __init__(self, tol: float = float(np.sqrt(np.finfo(float).eps)), max_iter: int = 1000):
        self.tol = float(tol)
        self.max_iter = int(max_iter)

    def __repr__(self) -> str:
        return f"covariance_structure({self.name!r})"

    def m_step(self, n, sum_xx, m, delta, denominator, reg_covar, previous=None):
        scatters = FULL.m_step(n, sum_xx, m, delta, denominator, reg_covar)
        return self.constrained(scatters, denominator, previous)

    def warm_m_step(self, n, sum_xx, m, delta, denominator, reg_covar, previous):
        return self.m_step(n, sum_xx, m, delta, denominator, reg_covar, previous=previous)

    def constrained(self, scatters: np.ndarray, weights: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        """The covariances ``(k, d, d)`` of this model minimising ``f`` for the scatters ``S_k``
        and weights ``n_k``, iterating from ``previous`` (or mclust's start when None) and never
        ending above it."""
        scatters = np.asarray(scatters, dtype=float)
        weights = np.asarray(weights, dtype=float)
        if previous is not None:   # a start only when valid (not, e.g., the zeros before a first M-step)
            previous = np.asarray(previous, dtype=float)
            valid = previous.shape == scatters.shape and np.all(np.isfinite(previous))
            previous = previous if valid and np.all(np.linalg.eigvalsh(previous) > 0) else None
        covariances = self._inner_loop(scatters, weights, self._start(scatters, weights, previous))
        if (previous is not None and self.cold_start and self.objective(scatters, weights, covariances)
                > self.objective(scatters, weights, previous)):
            # mclust's cold start stopped above the previous M-step's f: go on from there (a GEM step)
            covariances = self._inner_loop(scatters, weights, self._resume(scatters, weights, previous))
        spectra = np.linalg.eigvalsh(covariances)
        if not np.all(spectra[:, 0] > MIN_CONDITION * spectra[:, -1]):   # a collapsed component
            raise ValueError(f"covariances: a component's covariance is numerically singular under "
                             f"{self.name!r}. {ILL_DEFINED_COVARIANCE}")
        return covariances

    def _inner_loop(self, scatters: np.ndarray, weights: np.ndarray, state) -> np.ndarray:
        """The covariances after sweeps from ``state`` until mclust's rule: the watched quantities
        ``w`` (see :meth:`_watched`) change by ``max |Δw|/(1 + |w|) ≤ tol``, or ``max_iter`` sweeps."""
        watched = self._watched(scatters, weights, state) if self.watches_parameters else np.inf
        for _ in range(self.max_iter):
            state = self._iterate(scatters, weights, state)
            new = self._watched(scatters, weights, state)
            if np.max(np.abs(watched - new) / (1.0 + np.abs(new))) <= self.tol:
                break
            watched = new
        return self._covariances(state)

    def objective(self, scatters: np.ndarray, weights: np.ndarray, covariances: np.ndarray) -> float:
        """``f = Σ_k n_k [log det Σ_k + tr(S_k Σ_k⁻¹)]`` at any covariances (the inner loop's)."""
        lower = np.linalg.cholesky(covariances)
        log_det = 2.0 * np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(axis=1)
        trace = np.trace(np.linalg.solve(covariances, scatters), axis1=1, axis2=2)
        return float(np.sum(weights * (log_det + trace)))

    #: Whether mclust's inner rule watches the parameters (VEI, VEV: from the start on) rather than
    #: a target (VEE, EVE, VVE: from the first sweep on, so at least two sweeps).
    watches_parameters = False

    def _watched(self, scatters, weights, state):
        """What mclust's inner rule watches: ``f`` unless the model says otherwise."""
        return self.objective(scatters, weights, self._covariances(state))

    #: Whether ``_start`` ignores the previous covariances (mclust's VEE); then ``_resume`` goes on
    #: from them when the cold start ends above them.
    cold_start = False

    # the model-specific parts: a start, one sweep of the block steps, the covariances of a state
    def _start(self, scatters, weights, previous):
        raise NotImplementedError

    def _resume(self, scatters, weights, previous):
        raise NotImplementedError

    def _iterate(self, scatters, weights, state):
        raise NotImplementedError

    def _covariances(self, state) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------- what the constraints rule out
    def keep_components(self, previous, new, keep):
        """``new``: the M-step couples the components (shared volume, shape or orientation), so an
        empty one kept at its previous covariance would break the constraint."""
        return new

    # ------------------------------------------------------------------ conjugate prior
    #: Whether the components share one volume (EVE): the prior's determinant then counts once.
    equal_volume = False

    def scatter_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        return FULL.m_step(n, sum_xx, m, delta, denominator, reg_covar)

    def _prior_exponents(self, n_components: int, dof: float, n_features: int) -> np.ndarray:
        """``c_k``, the exponent of ``−½ log|Σ_k|`` in the log prior: ``c = dof + offset`` for
        each component's own volume; for a shared one ``c/G`` each (the determinant once)."""
        exponent = dof + self.prior_exponent_offset(n_features)
        return np.full(n_components, exponent / n_components if self.equal_volume else exponent)

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        return self.warm_posterior_mode(scatter, counts, scale, dof, n_features, None)

    def warm_posterior_mode(self, scatter, counts, scale, dof, n_features, previous):
        """The inner loop on the posterior scatters ``S'_k = (n_k C_k + Ψ_k)/n'_k`` with weights
        ``n'_k = n_k + c_k`` (see the module notes), from ``previous``."""
        counts = np.asarray(counts, dtype=float)
        weights = counts + self._prior_exponents(counts.size, dof, n_features)
        posterior = (counts[:, None, None] * np.asarray(scatter, dtype=float) + scale) / weights[:, None, None]
        return self.constrained(posterior, weights, previous)

    def prior_log_density(self, covariances, scale, dof, n_features):
        """``Σ_k −½ [c_k log|Σ_k| + tr(Ψ_k Σ_k⁻¹)]``: what :meth:`posterior_mode` adds to ``Q``."""
        covariances = np.asarray(covariances, dtype=float)
        lower = np.linalg.cholesky(covariances)
        log_det = 2.0 * np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(axis=1)
        trace = np.trace(np.linalg.solve(covariances, np.broadcast_to(scale, covariances.shape)), axis1=1, axis2=2)
        exponents = self._prior_exponents(len(covariances), dof, n_features)
        return float(np.sum(-0.5 * exponents * log_det - 0.5 * trace))

    linear_parent = "full"
    curved = True

    def basis(self, n_features):
        raise NotImplementedError(f"covariance_type {self.name!r}: the covariances are not a linear span of fixed "
                                  "matrices; the information goes through the full structure's (emkit.models.gaussian_information)")

    # ----------------------------------------- free parameters: logs of volumes and shapes, rotations
    def to_free(self, covariances):
        covariances = np.asarray(covariances, dtype=float)
        return np.concatenate([np.ravel(part) for _, part in self._free_parts(covariances)])

    def free_labels(self, name, n_components, n_features):
        like = np.tile(np.eye(n_features), (n_components, 1, 1))
        return [f"{name}.{part}[{','.join(map(str, index))}]" for part, values in self._free_parts(like)
                for index in np.ndindex(*np.shape(values))]

    def _free_parts(self, covariances: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The free parameters by kind: ``log_volume``, ``log_shape`` (the first ``d − 1``
        log-shapes; they sum to 0), ``rotation`` (the skew generator of ``D``, strictly lower)."""
        raise NotImplementedError


def _log_shapes(shapes: np.ndarray) -> np.ndarray:
    """The first ``d − 1`` logs of a determinant-one shape (the last is minus their sum)."""
    return np.log(shapes)[..., :-1]


def _shapes(log_shapes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_log_shapes`."""
    return np.exp(np.concatenate([log_shapes, -log_shapes.sum(axis=-1, keepdims=True)], axis=-1))


def _rotation_generator(vectors: np.ndarray) -> np.ndarray:
    """The strictly lower entries of ``K = log D`` for orthonormal eigenvectors ``D`` (columns
    signed so that ``D`` is nearest the identity, with ``det D = 1``)."""
    vectors = vectors * np.where(np.diagonal(vectors) < 0, -1.0, 1.0)
    if np.linalg.det(vectors) < 0:
        vectors[:, np.argmin(np.abs(np.diagonal(vectors)))] *= -1.0
    values, basis = np.linalg.eig(vectors)   # D normal: D = V e^{iφ} V⁻¹, log D = V iφ V⁻¹
    generator = np.real(basis @ np.diag(1j * np.angle(values)) @ np.linalg.inv(basis))
    return generator[np.tril_indices(len(vectors), -1)]


def _rotation(generator: np.ndarray, d: int) -> np.ndarray:
    """``D = exp(K)`` for the skew ``K`` with strictly lower entries ``generator``."""
    skew = np.zeros((d, d))
    skew[np.tril_indices(d, -1)] = generator
    return _skew_exponential(skew - skew.T)


def _skew_exponential(skew: np.ndarray) -> np.ndarray:
    """``exp K`` for a skew ``K`` from the Hermitian ``iK = V φ Vᴴ``: ``exp K = V e^{−iφ} Vᴴ``
    (numpy's eigh: scipy's expm calls a multithreaded BLAS that is slow on tiny matrices)."""
    phases, basis = np.linalg.eigh(1j * skew)
    return np.real((basis * np.exp(-1j * phases)) @ basis.conj().T)


def _symmetric_exponential(matrix: np.ndarray) -> np.ndarray:
    """``exp S = V e^{w} Vᵀ`` for a symmetric ``S = V w Vᵀ``."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.exp(values)) @ vectors.T


def _orthogonal_minimiser(gradient: np.ndarray) -> np.ndarray:
    """The orthogonal ``D`` minimising ``tr(Gᵀ D)``: ``−U Vᵀ`` for the SVD ``G = U s Vᵀ``."""
    left, _, right = np.linalg.svd(gradient)
    return -left @ right


def _decreasing_eigen(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (decreasing) and eigenvectors of a stack of symmetric matrices."""
    values, vectors = np.linalg.eigh(matrices)
    return values[..., ::-1], vectors[..., ::-1]


class VEI(IterativeStructure):
    """``Σ_k = λ_k B``, ``B`` diagonal with ``det B = 1``: varying volume, equal axis-aligned shape."""

    name = "VEI"

    def n_free(self, n_components, n_features):
        return n_components + n_features - 1

    def prior_exponent_offset(self, n_features):
        """``c − ν = 2``: an inverse-gamma ``IG(ν/2, ψ/2)`` on each variance, ``−(ν/2 + 1) log σ²_kj``
        summed over ``j`` (mclust's prior for its diagonal models)."""
        return 2.0

    def prior_lowest_dof(self, n_features):
        return 0.0

    watches_parameters = True

    def _start(self, scatters, weights, previous):
        if previous is None:   # mclust's meVEI: unit volumes and shape
            return np.ones(len(scatters)), np.ones(scatters.shape[1])
        variances = _positive(np.diagonal(previous, axis1=1, axis2=2), self.name)
        volumes = np.exp(np.mean(np.log(variances), axis=1))
        return volumes, _geometric_normalised(np.mean(variances / volumes[:, None], axis=0))

    def _watched(self, scatters, weights, state):
        return np.concatenate(state)

    def _iterate(self, scatters, weights, state):
        _, shape = state
        variances = np.diagonal(scatters, axis1=1, axis2=2)
        volumes = _positive((variances / shape).mean(axis=1), self.name)
        shape = _geometric_normalised(_positive(weights @ (variances / volumes[:, None]), self.name))
        return volumes, shape

    def _covariances(self, state):
        volumes, shape = state
        return volumes[:, None, None] * np.diag(shape)[None]

    def _free_parts(self, covariances):
        variances = np.diagonal(covariances, axis1=1, axis2=2)
        log_volumes = np.mean(np.log(variances), axis=1)
        return [("log_volume", log_volumes), ("log_shape", np.mean(np.log(variances) - log_volumes[:, None], axis=0)[:-1])]

    def from_free(self, free, n_components, n_features):
        free = np.asarray(free, dtype=float)
        return self._covariances((np.exp(free[:n_components]), _shapes(free[n_components:])))


class VEE(IterativeStructure):
    """``Σ_k = λ_k C``, ``det C = 1``: varying volume, equal shape and orientation."""

    name = "VEE"

    def n_free(self, n_components, n_features):
        return n_components + n_features * (n_features + 1) // 2 - 1

    cold_start = True

    def _start(self, scatters, weights, previous):
        # mclust's meVEE starts every M-step from unit volumes (its rule stops on a relative change
        # of f, so the start decides where a slow inner loop stops)
        return np.ones(len(scatters)), None

    def _resume(self, scatters, weights, previous):
        sign, log_det = np.linalg.slogdet(previous)
        _positive(sign, self.name)
        return np.exp(log_det / previous.shape[1]), None

    def _iterate(self, scatters, weights, state):
        volumes, _ = state
        d = scatters.shape[1]
        pooled = np.einsum("k,kij->ij", weights / volumes, scatters)
        sign, log_det = np.linalg.slogdet(pooled)
        _positive(np.array([sign]), self.name)
        shape = pooled / np.exp(log_det / d)
        shape = 0.5 * (shape + shape.T)
        volumes = _positive(np.trace(np.linalg.solve(shape, scatters), axis1=1, axis2=2) / d, self.name)
        return volumes, shape

    def _covariances(self, state):
        volumes, shape = state
        return volumes[:, None, None] * shape[None]

    def _free_parts(self, covariances):
        log_volumes = np.linalg.slogdet(covariances)[1] / covariances.shape[1]
        values, vectors = np.linalg.eigh(covariances[0])
        log_shape = np.einsum("ij,j,kj->ik", vectors, np.log(values) - log_volumes[0], vectors)
        rows, columns = np.tril_indices(len(values))
        return [("log_volume", log_volumes), ("log_shape", log_shape[rows, columns][:-1])]

    def from_free(self, free, n_components, n_features):
        free = np.asarray(free, dtype=float)
        rows, columns = np.tril_indices(n_features)
        log_shape = np.zeros((n_features, n_features))
        entries = np.append(free[n_components:], 0.0)
        log_shape[rows, columns] = entries
        log_shape[columns, rows] = entries
        log_shape[-1, -1] = -np.trace(log_shape)   # trace 0: determinant one
        return self._covariances((np.exp(free[:n_components]), _symmetric_exponential(log_shape)))


class VEV(IterativeStructure):
    """``Σ_k = λ_k D_k A D_kᵀ``: varying volume and orientation, equal shape."""

    name = "VEV"

    def n_free(self, n_components, n_features):
        d = n_features
        return n_components + (d - 1) + n_components * d * (d - 1) // 2

    watches_parameters = True

    def _start(self, scatters, weights, previous):
        # the orientations are the scatters' eigenvectors, optimal for every decreasing shape
        spectra, vectors = np.linalg.eigh(scatters)
        spectra, vectors = np.maximum(spectra[:, ::-1], 0.0), vectors[:, :, ::-1]
        if previous is None:   # mclust's meVEV: the shape of Σ_k W_k's spectra, volumes its mean
            pooled = _positive(weights @ spectra, self.name)
            volume = np.exp(np.mean(np.log(pooled))) / np.sum(weights)
            return np.full(len(scatters), volume), _geometric_normalised(pooled), spectra, vectors
        source = np.linalg.eigvalsh(previous)[:, ::-1]
        volumes = np.exp(np.mean(np.log(_positive(source, self.name)), axis=1))
        return volumes, _geometric_normalised(np.mean(source / volumes[:, None], axis=0)), spectra, vectors

    def _watched(self, scatters, weights, state):
        return np.concatenate(state[:2])

    def _iterate(self, scatters, weights, state):
        _, shape, spectra, vectors = state
        volumes = _positive((spectra / shape).mean(axis=1), self.name)
        shape = _geometric_normalised(_positive(weights @ (spectra / volumes[:, None]), self.name))
        return volumes, shape, spectra, vectors

    def _covariances(self, state):
        volumes, shape, _, vectors = state
        return np.einsum("k,kij,j,klj->kil", volumes, vectors, shape, vectors)

    def _free_parts(self, covariances):
        values, vectors = _decreasing_eigen(covariances)
        log_volumes = np.mean(np.log(values), axis=1)
        log_shape = np.mean(np.log(values) - log_volumes[:, None], axis=0)
        return [("log_volume", log_volumes), ("log_shape", log_shape[:-1]),
                ("rotation", np.array([_rotation_generator(v) for v in vectors]))]

    def from_free(self, free, n_components, n_features):
        k, d = n_components, n_features
        free = np.asarray(free, dtype=float)
        rotations = free[k + d - 1:].reshape(k, -1)
        vectors = np.stack([_rotation(generator, d) for generator in rotations])
        return self._covariances((np.exp(free[:k]), _shapes(free[k:k + d - 1]), None, vectors))


class _CommonOrientation(IterativeStructure):
    """``Σ_k = D Λ_k Dᵀ`` with one orientation ``D`` and diagonal ``Λ_k`` (EVE, VVE)."""

    def _diagonals(self, spectra: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The ``Λ_k`` minimising ``f`` given ``D`` from ``t_k = diag(Dᵀ S_k D)``."""
        raise NotImplementedError

    def _start(self, scatters, weights, previous):
        if previous is None:   # mclust's meEVE/meVVE: identity orientation, unit shapes
            orientation = np.eye(scatters.shape[1])
            diagonals = np.ones(scatters.shape[:2])
        else:                  # and the previous M-step's D, Λ_k after it
            mix = 1.0 + _GOLDEN * np.arange(len(previous))
            orientation = np.linalg.eigh(np.einsum("k,kij->ij", mix, previous))[1]
            diagonals = _positive(np.einsum("ji,kjl,li->ki", orientation, previous, orientation), self.name)
        scatter_sums = weights[:, None, None] * scatters   # W_k
        return orientation, diagonals, scatter_sums, np.linalg.eigvalsh(scatter_sums)[:, -1], scatter_sums @ orientation

    def _iterate(self, scatters, weights, state):
        """Browne & McNicholas's two MM steps for ``D`` (each minimises a linear majorizer of
        ``g(D) = Σ_k tr(W_k D Λ_k⁻¹ Dᵀ)`` over orthogonal matrices: ``W_k − ω_k I ≼ 0`` with
        ``ω_k = λ_max(W_k)``, then ``Λ_k⁻¹ − α_k I ≼ 0`` with ``α_k = max_j 1/Λ_kj``; the minimiser
        of ``tr(Gᵀ D)`` is ``−U Vᵀ`` for ``G = U s Vᵀ``), then ``Λ_k`` given ``D`` exactly. The
        state carries ``W_k``, ``ω_k`` and ``W_k D``."""
        orientation, diagonals, scatter_sums, largest, products = state
        inverse = 1.0 / diagonals
        gradient = (products * inverse[:, None, :]).sum(axis=0) - orientation * (largest @ inverse)
        orientation = _orthogonal_minimiser(gradient)
        products = scatter_sums @ orientation
        gradient = ((products * (inverse - inverse.max(axis=1, keepdims=True))[:, None, :]).sum(axis=0))
        orientation = _orthogonal_minimiser(gradient)
        products = scatter_sums @ orientation
        spectra = (products * orientation).sum(axis=1) / weights[:, None]   # diag(Dᵀ S_k D)
        diagonals = self._diagonals(_positive(spectra, self.name), weights)
        return orientation, diagonals, scatter_sums, largest, products

    def _watched(self, scatters, weights, state):
        orientation, diagonals = state[:2]
        return float(np.sum(weights * np.log(diagonals).sum(axis=1))) + float(np.sum(weights)) * scatters.shape[1]

    def _covariances(self, state):
        orientation, diagonals = state[:2]
        return np.einsum("ij,kj,lj->kil", orientation, diagonals, orientation)

    def _free_parts(self, covariances):
        mix = 1.0 + _GOLDEN * np.arange(len(covariances))
        orientation = _decreasing_eigen(np.einsum("k,kij->ij", mix, covariances))[1]
        log_diagonals = np.log(np.einsum("ji,kjl,li->ki", orientation, covariances, orientation))
        log_volumes = log_diagonals.mean(axis=1)
        volume_part = log_volumes[:1] if self.equal_volume else log_volumes
        return [("log_volume", volume_part), ("log_shape", (log_diagonals - log_volumes[:, None])[:, :-1]),
                ("rotation", _rotation_generator(orientation))]

    def from_free(self, free, n_components, n_features):
        k, d = n_components, n_features
        free = np.asarray(free, dtype=float)
        volumes = k if not self.equal_volume else 1
        log_volumes = np.broadcast_to(free[:volumes], (k,))
        shapes = _shapes(free[volumes:volumes + k * (d - 1)].reshape(k, d - 1))
        orientation = _rotation(free[volumes + k * (d - 1):], d)
        return self._covariances((orientation, np.exp(log_volumes)[:, None] * shapes))


class EVE(_CommonOrientation):
    """``Σ_k = λ D A_k Dᵀ``: equal volume and orientation, varying shape."""

    name = "EVE"
    equal_volume = True

    def n_free(self, n_components, n_features):
        d = n_features
        return 1 + n_components * (d - 1) + d * (d - 1) // 2

    def _diagonals(self, spectra, weights):
        logs = np.log(spectra)
        log_volumes = logs.mean(axis=1, keepdims=True)   # log (Π_j t_kj)^{1/d}
        volume = weights @ np.exp(log_volumes[:, 0]) / np.sum(weights)
        return volume * np.exp(logs - log_volumes)

    def _watched(self, scatters, weights, state):
        # mclust's meEVE watches Σ_k tr(A_k⁻¹ Dᵀ W_k D) = n d λ (f = n d (log λ + 1) falls with it)
        diagonals = state[1]
        return float(np.sum(weights)) * scatters.shape[1] * float(np.exp(np.mean(np.log(diagonals[0]))))


class VVE(_CommonOrientation):
    """``Σ_k = λ_k D A_k Dᵀ``: equal orientation, varying volume and shape."""

    name = "VVE"
    equal_volume = False

    def n_free(self, n_components, n_features):
        d = n_features
        return n_components * d + d * (d - 1) // 2

    def _diagonals(self, spectra, weights):
        return spectra


#: The iterative models by their mclust names (default inner tolerance and cap), in the lookup.
ITERATIVE_STRUCTURES = {structure.name: structure for structure in (VEI(), VEE(), VEV(), EVE(), VVE())}
STRUCTURES.update(ITERATIVE_STRUCTURES)
