"""Warnings and errors raised by emkit."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the convergence criterion was met."""


class AscentWarning(UserWarning):
    """The observed-data log-likelihood decreased between two EM iterations.

    EM never decreases the likelihood, so a decrease beyond round-off means a wrong E- or
    M-step (typical for a user-written model) or a numerically degenerate fit.
    """


class DegenerateComponentWarning(UserWarning):
    """A mixture component or hidden state received (almost) no weight; see ``reg_covar``."""
