"""``MixtureDiscriminant``: classification by a Gaussian mixture per class (mclust's ``MclustDA``
and ``EDDA``; Fraley & Raftery 2002, Bensmail & Celeux 1996), with a scikit-learn classifier face.

Each class ``c`` gets a density ``f_c`` and a prior ``τ_c`` (its share of the training rows);
a row is classified by ``P(c | x) = τ_c f_c(x) / Σ_j τ_j f_j(x)``.

* ``model_type="MclustDA"``: ``f_c`` is a Gaussian mixture fitted to the rows of class ``c`` alone,
  its number of components and covariance model chosen by BIC among the candidates, class by class.
* ``model_type="EDDA"``: ``f_c`` is one Gaussian per class, all with the same covariance model
  (e.g. "tied": a common covariance, LDA; "full": one per class, QDA), fitted by the complete-data
  M-step of a mixture whose components are the classes; the model is chosen by BIC over the
  candidates (mclust's: mixture log-likelihood, the class proportions not counted as parameters).
"""

from __future__ import annotations

import copy
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.special import logsumexp

from ..engine.progress import Progress
from ..models.gaussian_mixture import GaussianMixtureModel
from ..validation import check_integer, random_generator
from ._validation import check_array, check_feature_names, check_n_features, feature_names
from .base import EstimatorProtocol
from .gaussian_mixture import GaussianMixture

MODEL_TYPES = ("MclustDA", "EDDA")
#: Covariance models tried when ``covariance_type`` is None.
DEFAULT_COVARIANCE_TYPES = ("spherical", "diag", "tied", "full")
#: Numbers of components tried per class when ``n_components`` is None (mclust's G = 1..5).
DEFAULT_N_COMPONENTS = (1, 2, 3, 4, 5)


@dataclass
class CrossValidation:
    """Cross-validated classification (mclust's ``cvMclustDA``).

    Attributes
    ----------
    error : float
        Share of rows misclassified when predicted by the fit on the other folds.
    se : float
        Standard error of the error, ``sd(fold errors)/√n_folds``.
    predictions, probabilities : ndarray
        Each row's predicted class and class probabilities from the fit without its fold.
    n_folds : int
        Number of folds.
    """

    error: float
    se: float
    predictions: np.ndarray
    probabilities: np.ndarray
    n_folds: int


class MixtureDiscriminant(EstimatorProtocol):
    """Gaussian mixture discriminant analysis (see the module): mclust's MclustDA and EDDA.

    Parameters
    ----------
    model_type : {"MclustDA", "EDDA"}, default="MclustDA"
        A mixture per class (components and covariance model chosen per class), or one
        Gaussian per class with a covariance model common to the classes.
    n_components : int or sequence of int, optional
        MclustDA's candidate numbers of components per class (chosen by BIC; an int fixes it);
        None: 1..5, as mclust. Not used by EDDA.
    covariance_type : str or sequence of str, optional
        Candidate covariance models (any of :class:`~emkit.GaussianMixture`'s; chosen by BIC);
        None: spherical, diag, tied and full.
    reg_covar, tol, max_iter, n_init, init_params, random_state
        As in :class:`~emkit.GaussianMixture`, for every mixture fitted (``reg_covar`` also for EDDA).

    Attributes
    ----------
    classes_ : ndarray
        The class labels, sorted.
    class_priors_ : ndarray
        ``τ_c``, the classes' shares of the training rows.
    n_components_ : ndarray of int
        Components of each class's density (1 for EDDA).
    covariance_types_ : list of str
        The covariance model of each class's density.
    models_ : list of GaussianMixture
        MclustDA: each class's fitted mixture (EDDA: empty).
    bic_ : ndarray
        MclustDA: each class's BIC (scikit-learn's sign, lower is better); EDDA: the BIC of the
        chosen common model.
    n_features_in_ : int
        Number of features seen in ``fit``.
    """

    _estimator_type = "classifier"
    _fitted_attribute = "classes_"

    def __init__(self, model_type: str = "MclustDA", *, n_components: int | Sequence[int] | None = None,
                 covariance_type: str | Sequence[str] | None = None, reg_covar: float = 1e-6, tol: float = 1e-3,
                 max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans", random_state=None) -> None:
        self.model_type = model_type
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state

    # ------------------------------------------------------------------------- fitting
    def fit(self, X, y) -> MixtureDiscriminant:
        """Fit each class's density and the class priors (see the class)."""
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type: expected one of {MODEL_TYPES}, got {self.model_type!r}")
        names = feature_names(X)
        X, y = self._checked(X, y)
        classes, codes = np.unique(y, return_inverse=True)
        types = self._candidate_types()
        if self.model_type == "EDDA":
            fitted = self._fit_edda(X, codes, len(classes), types)
        else:
            grid = [(g, t) for t in types for g in self._candidate_components()]
            fitted = self._fit_mclustda(X, codes, classes, [grid] * len(classes))
        self._set_fitted(classes, np.bincount(codes) / len(codes), fitted, X.shape[1], names)
        return self

    def _fit_mclustda(self, X, codes, classes, grids) -> dict[str, Any]:
        """Each class's mixture, the lowest BIC over its grid of (components, covariance model)."""
        models, bics = [], []
        for index, label in enumerate(classes):
            rows = X[codes == index]
            best, best_bic = None, np.inf
            for g, covariance_type in grids[index]:
                if g > max(1, len(rows) - 1):
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # convergence notes of candidate fits
                        model = self._mixture(g, covariance_type).fit(rows if len(rows) > 1 else np.vstack([rows] * 2))
                except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                    continue
                bic = model.bic(rows)
                if bic < best_bic:
                    best, best_bic = model, bic
            if best is None:
                raise ValueError(f"y: no candidate mixture could be fitted to the {len(rows)} row(s) of class "
                                 f"{label!r}; give fewer components or add reg_covar")
            models.append(best)
            bics.append(best_bic)
        return {"models": models, "bic": np.array(bics), "n_components": [m.n_components for m in models],
                "covariance_types": [m.covariance_type for m in models]}

    def _fit_edda(self, X, codes, n_classes: int, types) -> dict[str, Any]:
        """One Gaussian per class by the complete-data M-step, the covariance model by BIC."""
        indicators = np.eye(n_classes)[codes]
        best: dict[str, Any] | None = None
        for covariance_type in types:
            model = GaussianMixtureModel(n_classes, covariance_type, reg_covar=self.reg_covar)
            try:
                with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
                    params = model.params_from_responsibilities(X, indicators)
                    loglik = float(np.sum(model.responsibilities(X, params)[1]))
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                continue
            n_parameters = model.n_free_parameters(X.shape[1]) - (n_classes - 1)   # the proportions are given
            bic = -2.0 * loglik + n_parameters * np.log(len(X))
            if np.isfinite(bic) and (best is None or bic < best["bic"]):
                best = {"bic": bic, "model": model, "params": params, "covariance_type": covariance_type}
        if best is None:
            raise ValueError("X: no covariance model could be fitted to the classes (a class with too few rows for "
                             "its covariance; add reg_covar)")
        return {"models": [], "bic": np.array(best["bic"]), "n_components": [1] * n_classes,
                "covariance_types": [best["covariance_type"]] * n_classes, "edda": (best["model"], best["params"])}

    def _mixture(self, n_components: int, covariance_type: str) -> GaussianMixture:
        return GaussianMixture(n_components, covariance_type=covariance_type, reg_covar=self.reg_covar, tol=self.tol,
                               max_iter=self.max_iter, n_init=self.n_init, init_params=self.init_params,
                               random_state=self.random_state)

    def _set_fitted(self, classes, priors, fitted: dict[str, Any], n_features: int, names) -> None:
        self.class_priors_ = priors
        self.models_ = fitted["models"]
        self.bic_ = fitted["bic"]
        self.n_components_ = np.array(fitted["n_components"])
        self.n_iter_ = np.array([model.n_iter_ for model in fitted["models"]] or [1] * len(classes))
        self.covariance_types_ = list(fitted["covariance_types"])
        self._edda = fitted.get("edda")
        self.n_features_in_ = n_features
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.classes_ = classes

    # ----------------------------------------------------------------------- predicting
    def _log_joint(self, X) -> np.ndarray:
        """``log τ_c + log f_c(x_i)``, shape (n, n_classes)."""
        self._check_is_fitted()
        check_feature_names(self, X)
        X = check_array(X, estimator_name=type(self).__name__, allow_nan=False)
        check_n_features(self, X)
        if self._edda is not None:
            model, params = self._edda
            return model.log_joint(X, params)
        with np.errstate(divide="ignore"):
            log_priors = np.log(self.class_priors_)
        return np.column_stack([model.score_samples(X) for model in self.models_]) + log_priors

    def predict_proba(self, X) -> np.ndarray:
        """``P(c | x_i) = τ_c f_c(x_i) / Σ_j τ_j f_j(x_i)``, shape (n, n_classes), columns in ``classes_``."""
        joint = self._log_joint(X)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def predict_log_proba(self, X) -> np.ndarray:
        """``log P(c | x_i)``."""
        joint = self._log_joint(X)
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def score_samples(self, X) -> np.ndarray:
        """``log Σ_c τ_c f_c(x_i)``, the density of each row under the classes' mixture (summed:
        mclust's ``logLik`` of an MclustDA or EDDA fit)."""
        return logsumexp(self._log_joint(X), axis=1)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        joint = self._log_joint(X)
        return self.classes_[np.argmax(joint, axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy: the (weighted) share of rows whose predicted class is ``y``."""
        return float(np.average(self.predict(X) == np.asarray(y).reshape(-1), weights=sample_weight))

    # ------------------------------------------------------------------ cross-validation
    def cv_error(self, X, y, n_folds: int = 10, *, random_state=None,
                 verbose: bool | Progress = False) -> CrossValidation:
        """mclust's ``cvMclustDA``: the error of predicting each fold from a refit on the others.

        The refits keep the fitted per-class choices (components and covariance model; ``fit``
        first when not fitted). Folds are balanced: each class's rows, shuffled, are dealt to the
        folds in turn; ``n_folds`` is at most the largest class size, and equal to the number of
        rows gives leave-one-out. ``error`` weighs the folds by their sizes (the overall share
        misclassified); ``se = sd(fold errors)/√n_folds``.
        """
        if not self.__sklearn_is_fitted__():
            self.fit(X, y)
        n_folds = check_integer(n_folds, "n_folds", low=2)
        X, y = self._checked(X, y)
        classes, codes = np.unique(y, return_inverse=True)
        if not np.array_equal(classes, self.classes_):
            raise ValueError("y: its classes differ from those of the fit")
        folds = balanced_folds(codes, n_folds, random_generator(random_state))
        probabilities = np.full((len(y), len(classes)), np.nan)
        errors = []
        with Progress.of(verbose) as progress, progress.stage("cross-validation", total=len(folds), unit="fold"):
            for fold in folds:
                train = np.ones(len(y), bool)
                train[fold] = False
                refit = self._refit_with_choices(X[train], y[train])
                probabilities[np.ix_(fold, np.searchsorted(classes, refit.classes_))] = refit.predict_proba(X[fold])
                errors.append(np.mean(refit.classes_[np.argmax(refit.predict_proba(X[fold]), axis=1)] != y[fold]))
                progress.advance()
        predictions = classes[np.argmax(np.nan_to_num(probabilities, nan=-1.0), axis=1)]
        sizes = np.array([len(fold) for fold in folds])
        errors = np.array(errors)
        return CrossValidation(error=float(np.sum(errors * sizes) / sizes.sum()),
                               se=float(np.std(errors, ddof=1) / np.sqrt(len(folds))) if len(folds) > 1 else np.nan,
                               predictions=predictions, probabilities=probabilities, n_folds=len(folds))

    def _refit_with_choices(self, X, y) -> MixtureDiscriminant:
        """A copy fitted to ``(X, y)`` with this fit's per-class model choices."""
        refit = copy.deepcopy(self)
        if self.model_type == "EDDA":
            refit.covariance_type = self.covariance_types_[0]
            return refit.fit(X, y)
        classes, codes = np.unique(y, return_inverse=True)
        own = {label: [(int(g), t)] for label, g, t in zip(self.classes_, self.n_components_, self.covariance_types_)}
        fitted = refit._fit_mclustda(X, codes, classes, [own[label] for label in classes])
        refit._set_fitted(classes, np.bincount(codes) / len(codes), fitted, X.shape[1], None)
        return refit

    # ---------------------------------------------------------------------- checking
    def _checked(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        X = check_array(X, estimator_name=type(self).__name__, allow_nan=False, ensure_min_samples=2)
        if y is None:
            raise ValueError(f"y: {type(self).__name__} requires y to be passed, but the target y is None")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
                          "(n_samples,), for example using ravel().",
                          _data_conversion_warning(), stacklevel=3)
            y = y[:, 0]
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y: expected one label per row of X ({len(X)}), got shape {y.shape}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)):
                raise ValueError("y: Input contains NaN or infinity")
            if np.any(y != np.round(y)):
                raise ValueError("y: Unknown label type: continuous values; expected class labels")
        if y.dtype.kind == "O" and any(isinstance(value, float) and value != value for value in y):
            raise ValueError("y: Input contains NaN")
        if len(np.unique(y)) < 2:
            raise ValueError(f"y: needs at least 2 classes, got {np.unique(y).tolist()}")
        return X, y

    def _candidate_types(self) -> tuple[str, ...]:
        if self.covariance_type is None:
            return DEFAULT_COVARIANCE_TYPES
        if isinstance(self.covariance_type, str):
            return (self.covariance_type,)
        types = tuple(self.covariance_type)
        if not types or not all(isinstance(t, str) for t in types):
            raise ValueError(f"covariance_type: expected a name or a sequence of names, got {self.covariance_type!r}")
        return types

    def _candidate_components(self) -> tuple[int, ...]:
        if self.n_components is None:
            return DEFAULT_N_COMPONENTS
        values = (self.n_components,) if np.ndim(self.n_components) == 0 else tuple(self.n_components)
        if not values:
            raise ValueError("n_components: expected a positive integer or a sequence of them, got an empty sequence")
        return tuple(check_integer(value, "n_components", low=1) for value in values)

    def __sklearn_tags__(self):
        """scikit-learn (>= 1.6) tags: a classifier that needs ``y``."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(), input_tags=InputTags())


def balanced_folds(codes: np.ndarray, n_folds: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Folds with each class spread evenly (mclust's ``balanced.folds``): every class's rows,
    shuffled, are dealt to the folds in turn, from a random fold; at most as many folds as rows
    in the largest class, and no empty fold. As many folds as rows: leave-one-out."""
    if n_folds == len(codes):
        return [np.array([row]) for row in range(len(codes))]
    n_folds = min(n_folds, int(np.bincount(codes).max()))
    assigned = np.empty(len(codes), dtype=int)
    for code in np.unique(codes):
        rows = rng.permutation(np.flatnonzero(codes == code))
        assigned[rows] = (np.arange(len(rows)) + rng.integers(n_folds)) % n_folds
    return [np.flatnonzero(assigned == fold) for fold in range(n_folds) if np.any(assigned == fold)]


def _data_conversion_warning() -> type[Warning]:
    """scikit-learn's ``DataConversionWarning`` when scikit-learn is in use, else ``UserWarning``
    (scikit-learn is not imported for it)."""
    if "sklearn" in sys.modules:
        from sklearn.exceptions import DataConversionWarning

        return DataConversionWarning
    return UserWarning
