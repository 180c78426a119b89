"""SQUAREM acceleration of EM on a list of probability tables.

The accelerator works on the parameters θ as the driver holds them: a list of
arrays whose last axis (or segments of it) are distributions. It never calls
the model: :func:`emfast.run_em` runs the E- and M-steps, hands every new EM
iterate to :meth:`Squarem.propose`, evaluates the proposed point with one
E-step and tells the accelerator whether it was kept (:meth:`Squarem.accept`
/ :meth:`Squarem.reject`).

Scheme (Varadhan & Roland 2008, "Simple and globally convergent methods for
accelerating the convergence of any EM algorithm", Scand. J. Statist. 35;
scheme SqS3, with the step-length control of the R package SQUAREM):

* from a base θ0 (an M-step output, or the start) and two EM steps
  θ1 = F(θ0), θ2 = F(θ1): ``r = θ1 - θ0``, ``v = θ2 - 2 θ1 + θ0`` (sums over
  every table), step length ``α = ||r|| / ||v||`` clamped to ``[1, step_max]``,
  proposal ``θ' = θ0 + 2 α r + α² v`` (α = 1 gives θ2, the EM double step);
* ``step_max`` starts at 1 and is multiplied by 4 each time the step hits the
  cap and is kept; when a step at the cap is rejected it is divided by 4
  (never below 1);
* after a kept proposal the next base is F(θ') (R's "stabilisation" step), so
  every base the accelerator extrapolates from is an M-step output.

Why extrapolating keeps the constraints. θ' is an affine combination of θ0,
θ1, θ2 with coefficients ``(1 - α)², 2α(1 - α), α²`` that sum to 1, so every
row (and every segment of a packed table) that sums to 1 in the three points
sums to 1 in θ', a table held fixed (identical in the three) comes out
identical (r = v = 0 there, exactly, in floating point), and a cell that is 0
in the three stays exactly 0. Only non-negativity can fail. A proposal is
*feasible* when every entry is finite and in [0, 1], every cell that is
positive in θ2 stays positive (so no row the data contain becomes impossible:
the E-step cannot fail where it did not fail at θ2), and a cell that the EM map
has set to 0 (0 in θ1 and θ2) stays 0. An infeasible proposal is shrunk
towards θ2 (``α <- 1 + (α - 1) / 2``, up to ``max_shrink`` times, no E-step
needed) and otherwise dropped in favour of θ2. The driver rejects a feasible
proposal whose objective is below that of θ2 (the last accepted point), so
the accepted objectives never decrease.

Because the base is always an M-step output, floating-point drift of the row
sums of θ' (of order machine epsilon times the size of the terms) is never
extrapolated again: chaining extrapolations from θ' itself would multiply it
by ``(1 - α)²`` per cycle.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Squarem", "ACCELERATORS", "make_accelerator"]

#: The accelerators ``run_em(accelerate=...)`` knows.
ACCELERATORS = ("squarem",)


def make_accelerator(accelerate):
    """``None`` (plain EM) or ``"squarem"`` -> ``None`` or a fresh :class:`Squarem`."""
    if accelerate is None:
        return None
    if isinstance(accelerate, str) and accelerate == "squarem":
        return Squarem()
    if isinstance(accelerate, Squarem):
        return accelerate
    raise ValueError(f"accelerate must be None (plain EM) or 'squarem'; got {accelerate!r}.")


class Squarem:
    """SqS3 SQUAREM proposals for EM on a list of arrays.

    Parameters
    ----------
    step_max0 : float, default=1
        Initial (and smallest) cap on the step length α.
    mstep : float, default=4
        Factor by which the cap grows after a kept step at the cap (and
        shrinks after a rejected one).
    max_shrink : int, default=10
        Halvings of ``α - 1`` tried when a proposal is infeasible before
        falling back to the EM point.

    Attributes
    ----------
    stats : dict
        ``cycles`` (extrapolation points computed), ``proposed`` (feasible
        proposals handed to the driver), ``accepted``, ``rejected`` (objective
        below the EM point), ``infeasible`` (dropped after ``max_shrink``
        halvings), ``shrunk`` (proposals made feasible by halving),
        ``plain`` (cycles where α = 1, i.e. the EM double step), ``max_alpha``
        (largest step kept), ``step_max`` (final cap).
    """

    name = "squarem"

    def __init__(self, step_max0: float = 1.0, mstep: float = 4.0, max_shrink: int = 10):
        self.step_max0 = float(step_max0)
        self.step_max = float(step_max0)
        self.mstep = float(mstep)
        self.max_shrink = int(max_shrink)
        self._pts: list = []
        self._restart = False
        self._alpha = 1.0
        self._used = 1.0
        self.stats = {"cycles": 0, "proposed": 0, "accepted": 0, "rejected": 0,
                      "infeasible": 0, "shrunk": 0, "plain": 0, "max_alpha": 1.0,
                      "step_max": self.step_max}

    def start(self, theta) -> None:
        """The first base: the starting parameters."""
        self._pts = [theta]
        self._restart = False

    def propose(self, theta):
        """Record the EM iterate ``theta`` (= F of the last accepted point).

        Returns a proposal (list of arrays) to evaluate, or ``None``.
        """
        if self._restart:                 # F(θ') after a kept proposal: the new base
            self._pts = [theta]
            self._restart = False
            return None
        self._pts.append(theta)
        if len(self._pts) < 3:
            return None
        t0, t1, t2 = self._pts
        self._pts = [t2]                  # next base unless a proposal is kept
        self.stats["cycles"] += 1
        r = [b - a for a, b in zip(t0, t1)]
        v = [c - 2.0 * b + a for a, b, c in zip(t0, t1, t2)]
        sr2 = math.fsum(float(np.vdot(x, x)) for x in r)
        sv2 = math.fsum(float(np.vdot(x, x)) for x in v)
        if sr2 == 0.0:                    # a fixed point: nothing to extrapolate
            self._alpha = 1.0
            self._after(kept=True)
            return None
        alpha = math.sqrt(sr2 / sv2) if sv2 > 0.0 else math.inf
        alpha = max(1.0, min(self.step_max, alpha))
        self._alpha = alpha
        if alpha == 1.0:                  # the EM double step itself
            self.stats["plain"] += 1
            self._after(kept=True)
            return None
        a = alpha
        for k in range(self.max_shrink + 1):
            cand = [x0 + (2.0 * a) * dr + (a * a) * dv for x0, dr, dv in zip(t0, r, v)]
            if _feasible(cand, t1, t2):
                if k:
                    self.stats["shrunk"] += 1
                self._used = a
                self.stats["proposed"] += 1
                return cand
            a = 1.0 + 0.5 * (a - 1.0)
        self.stats["infeasible"] += 1
        self._after(kept=False)
        return None

    def accept(self) -> None:
        """The last proposal was kept: the next EM iterate becomes the base."""
        self.stats["accepted"] += 1
        self.stats["max_alpha"] = max(self.stats["max_alpha"], self._used)
        self._alpha = self._used
        self._after(kept=True)
        self._restart = True

    def reject(self) -> None:
        """The last proposal was rejected: θ2 stays the base."""
        self.stats["rejected"] += 1
        self._after(kept=False)

    def _after(self, *, kept: bool) -> None:
        # the step-cap control of R's SQUAREM: a rejected step at the cap divides the cap
        # by mstep (not below step_max0); a kept step at the cap (also α = 1 at a cap of 1)
        # multiplies it by mstep.
        alpha = self._alpha
        if not kept:
            if alpha == self.step_max:
                self.step_max = max(self.step_max0, self.step_max / self.mstep)
            alpha = 1.0
        if alpha == self.step_max:
            self.step_max *= self.mstep
        self.stats["step_max"] = self.step_max


def _feasible(cand, t1, t2) -> bool:
    """Every entry finite and in [0, 1]; positive cells of θ2 stay positive; cells the
    EM map set to 0 (0 in θ1 and θ2) stay 0."""
    for x, b, c in zip(cand, t1, t2):
        if not np.all((x >= 0.0) & (x <= 1.0)):          # False for NaN too
            return False
        if np.any((c > 0.0) & (x <= 0.0)):
            return False
        if np.any((b == 0.0) & (c == 0.0) & (x != 0.0)):
            return False
    return True
