"""Warnings and exceptions raised by emfast."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` / ``n_iter`` before the tolerance was met."""


class NonMonotoneEMWarning(RuntimeWarning):
    """The EM objective decreased between two iterations beyond round-off.

    EM cannot decrease the (penalised) log-likelihood; a decrease means a bug
    in an E-step or M-step. The test suite turns this warning into an error.
    """


class NotFittedError(ValueError, AttributeError):
    """An estimator method that needs a fitted model was called before ``fit``."""
