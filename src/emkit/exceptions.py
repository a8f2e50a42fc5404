"""Warnings and errors raised by emkit."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the convergence criterion was met."""


class AscentWarning(UserWarning):
    """The observed-data log-likelihood decreased between two EM iterations.

    EM never decreases the likelihood, so a decrease beyond round-off means a wrong E- or
    M-step (typical for a user-written model) or a numerically degenerate fit. A decrease that a
    regularised M-step explains (see :class:`RegularizationWarning`) is not reported as one.
    """


class RegularizationWarning(UserWarning):
    """The objective fell because the M-step is regularised, and a component collapsed.

    A regularised M-step (``reg_covar`` added to the covariances) does not maximise the expected
    complete-data log-likelihood, so the log-likelihood may fall by as much as the regularisation
    gives up; a component whose covariance sits on the ``reg_covar`` floor (it collapsed onto a
    point or a subspace) makes that large. The message names the component and the remedy: a
    conjugate prior (MAP-EM, which never decreases its objective, the log-posterior), another
    ``reg_covar``, or fewer components.
    """


class DegenerateComponentWarning(UserWarning):
    """A mixture component or hidden state received (almost) no weight; see ``reg_covar``."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``.

    When scikit-learn is imported, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError``.
    """
