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
has set to 0 (0 in θ1 and θ2) stays 0, and each table's total matches θ2's
(:data:`SUM_RTOL`: round-off grows with the step). An infeasible proposal is
shrunk towards θ2 along the SQUAREM curve, without an E-step: each entry is a
quadratic in α, non-negative at α = 1, so the α at which it is negative form at
most one interval per entry, computed exactly, and the largest α below the SqS3
one outside every interval is taken (``shrink="boundary"``; ``"halve"`` halves
``α - 1`` instead). Halving loses most of the step when a cell converging to 0
makes a narrow window of α infeasible: entries that converge geometrically
(``c ρ^k``) give a perfect square ``c ρ^k (1 + α(ρ - 1))²``, zero at their own
best step ``1 / (1 - ρ)``, and the windows come from the mismatch of those
steps. If no α > 1 is feasible, the proposal is dropped in favour of θ2. The
driver evaluates a feasible proposal before θ2 and rejects it when its objective
is below that of θ1 (the last point evaluated and accepted); it then falls back to
θ2 (whose objective is >= θ1's, EM being monotone), so the accepted objectives
never decrease, and a kept cycle costs three E-steps (θ1, θ', F(θ')).

Because the base is always an M-step output, floating-point drift of the row
sums of θ' (of order machine epsilon times the size of the terms) is never
extrapolated again: chaining extrapolations from θ' itself would multiply it
by ``(1 - α)²`` per cycle.
"""
from __future__ import annotations

import math

import numpy as np

from ._kernels import squarem_boundary, squarem_norms, squarem_point

__all__ = ["Squarem", "ACCELERATORS", "make_accelerator"]

#: The accelerators ``run_em(accelerate=...)`` knows.
ACCELERATORS = ("squarem",)


def make_accelerator(accelerate):
    """``None`` (plain EM), ``"squarem"`` or a configured :class:`Squarem` -> ``None`` or a
    fresh :class:`Squarem` (a new one per run: restarts do not share step caps)."""
    if accelerate is None:
        return None
    if isinstance(accelerate, str) and accelerate == "squarem":
        return Squarem()
    if isinstance(accelerate, Squarem):     # its settings, fresh state (one per run)
        return Squarem(accelerate.step_max0, accelerate.mstep, accelerate.shrink,
                       accelerate.max_shrink)
    raise ValueError(f"accelerate must be None (plain EM) or 'squarem'; got {accelerate!r}.")


class Squarem:
    """SqS3 SQUAREM proposals for EM on a list of arrays.

    Protocol (what :func:`emfast.run_em` does): :meth:`start` with the starting
    parameters; after every M-step, :meth:`propose` with the new EM iterate;
    when it returns a proposal, evaluate it and call :meth:`accept` (its objective
    is >= that of the last accepted point) or :meth:`reject` (then evaluate the
    EM iterate); otherwise evaluate the EM iterate. After each call, :attr:`new_base` says whether the current
    point (the EM iterate just given, or θ2 after a rejection) is a base of
    the scheme, one that the next proposal extrapolates from. (The driver's
    convergence tests do not use it: they compare each EM point with the
    point it was computed from, see :func:`emfast.run_em`.)

    Parameters
    ----------
    step_max0 : float, default=1
        Initial (and smallest) cap on the step length α.
    mstep : float, default=4
        Factor by which the cap grows after a kept step at the cap (and
        shrinks after a rejected one).
    shrink : {"boundary", "halve"}, default="boundary"
        What to do with an infeasible proposal: ``"boundary"`` takes the
        largest feasible α below the SqS3 one (each entry is a quadratic in α;
        the α where it is negative is computed exactly), ``"halve"`` halves
        ``α - 1`` until feasible (up to ``max_shrink`` times).
    max_shrink : int, default=10
        Halvings tried (``"halve"``, or when the boundary step fails the exact
        check by round-off) before falling back to the EM point.

    Attributes
    ----------
    stats : dict
        ``cycles`` (SqS3 steps computed), ``proposed`` (feasible proposals
        handed to the driver), ``accepted``, ``rejected`` (objective below the
        EM point), ``infeasible`` (no feasible α > 1: EM point kept, no E-step
        spent), ``shrunk`` (proposals made feasible by a shorter step),
        ``plain`` (cycles where α = 1, i.e. the EM double step), ``max_alpha``
        (largest step kept), ``step_max`` (final cap).
    new_base : bool
        See above.
    """

    name = "squarem"

    def __init__(self, step_max0: float = 1.0, mstep: float = 4.0, shrink: str = "boundary",
                 max_shrink: int = 10):
        if shrink not in ("boundary", "halve"):
            raise ValueError(f"shrink must be 'boundary' or 'halve'; got {shrink!r}.")
        self.step_max0 = float(step_max0)
        self.step_max = float(step_max0)
        self.mstep = float(mstep)
        self.shrink = shrink
        self.max_shrink = int(max_shrink)
        self._flat: list = []             # the points of the cycle so far, flattened
        self._restart = False
        self._alpha = 1.0
        self._used = 1.0
        self.new_base = False
        self.stats = {"cycles": 0, "proposed": 0, "accepted": 0, "rejected": 0,
                      "infeasible": 0, "shrunk": 0, "plain": 0, "max_alpha": 1.0,
                      "step_max": self.step_max}

    def start(self, theta) -> None:
        """The first base: the starting parameters."""
        self._shapes = _shapes(theta)
        sizes = [math.prod(sh) for sh in self._shapes]
        ends = np.cumsum(sizes, dtype=np.int64)
        # table b of the flat vector is [bounds[b], bounds[b + 1]) (the kernel's layout)
        self._bounds = np.concatenate([[0], ends]).astype(np.int64)
        # (start, end, shape) of each table as Python ints: tables() slices with them
        # once per proposal (NumPy integers make each slice slower)
        self._layout = [(int(i), int(j), sh)
                        for i, j, sh in zip(self._bounds[:-1], self._bounds[1:], self._shapes)]
        self._flat = [_flat(theta)]
        self._restart = False
        self.new_base = False

    def propose(self, theta):
        """Record the EM iterate ``theta`` (F of the last accepted point), before the
        driver evaluates it.

        Returns a proposal (list of arrays) to evaluate instead, or ``None`` (then
        the driver evaluates ``theta``). When a proposal is returned, ``theta`` is θ2:
        the driver evaluates it only if the proposal is rejected.
        """
        self.new_base = False
        shapes = _shapes(theta)
        if shapes != self._shapes:
            raise ValueError(
                "SQUAREM needs the M-step to return tables of the same shapes as the "
                f"parameters it started from; got {shapes} after {self._shapes}.")
        # All tables as one vector, each point flattened once; the arithmetic and the
        # checks of a cycle are two passes of the compiled kernels (_kernels_accel.pxi):
        # in numpy they were ~30 array calls per cycle, as much time as a small model's
        # E-step (docs/acceleration.md, "Accelerator overhead").
        flat = _flat(theta)
        if self._restart:                 # F(θ') after a kept proposal: the new base
            self._flat = [flat]
            self._restart = False
            self.new_base = True
            return None
        self._flat.append(flat)
        if len(self._flat) < 3:
            return None
        t0, t1, t2 = self._flat
        self._flat = [t2]                 # next base unless a proposal is kept
        self.new_base = True
        self.stats["cycles"] += 1
        sr2, sv2 = squarem_norms(t0, t1, t2)
        alpha = math.sqrt(sr2 / sv2) if sv2 > 0.0 else (math.inf if sr2 > 0.0 else 1.0)
        alpha = max(1.0, min(self.step_max, alpha))
        self._alpha = alpha
        if alpha == 1.0:                  # the EM double step itself
            self.stats["plain"] += 1
            self._update_cap(kept=True)
            return None
        cand = np.empty_like(t2)          # a new array: a kept proposal becomes θ
        a = alpha
        for k in range(self.max_shrink + 1):
            if squarem_point(t0, t1, t2, self._bounds, a, SUM_RTOL, cand) == 0:
                if k:
                    self.stats["shrunk"] += 1
                self._used = a
                self.stats["proposed"] += 1
                self.new_base = False     # decided by accept / reject
                return self.tables(cand)
            if k == 0 and self.shrink == "boundary":
                a = _largest_feasible(t0, t1, t2, a)
            else:
                a = 1.0 + 0.5 * (a - 1.0)
            if a <= 1.0 + 1e-12:
                break
        self.stats["infeasible"] += 1
        self._update_cap(kept=False)
        return None

    def tables(self, flat):
        """A flat vector of this run's layout as the list of tables (views of ``flat``)."""
        return [flat[i:j] if len(sh) == 1 else flat[i:j].reshape(sh)
                for i, j, sh in self._layout]

    def accept(self) -> None:
        """The last proposal was kept: the next EM iterate, F(θ'), becomes the base."""
        self.stats["accepted"] += 1
        self.stats["max_alpha"] = max(self.stats["max_alpha"], self._used)
        self._update_cap(kept=True)       # on the SqS3 α: a feasibility cut does not
        # stop the cap from growing (it limits trust in α, not the distance to the boundary)
        self._restart = True
        self.new_base = False

    def reject(self) -> None:
        """The last proposal was rejected: θ2 is the base."""
        self.stats["rejected"] += 1
        self._update_cap(kept=False)
        self.new_base = True

    def _update_cap(self, *, kept: bool) -> None:
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


#: Largest relative drift of a table's total allowed in a proposal. The affine
#: combination keeps every row sum exactly in exact arithmetic; in floating point the
#: error is about machine epsilon times the step (α ||r||), 1e-13..1e-12 for the steps
#: seen in practice. A larger drift (a huge step) would inflate the objective that the
#: E-step reports for the proposal, so such a proposal is treated as infeasible.
SUM_RTOL = 1e-10


def _shapes(theta):
    """The shapes of the tables (``.shape`` of each array: several times cheaper than
    ``np.shape`` on the per-M-step path; anything else through ``np.shape``)."""
    try:
        return [t.shape for t in theta]
    except AttributeError:
        return [np.shape(t) for t in theta]


def _flat(theta):
    """The tables of ``theta`` as one float64 vector (a copy; the kernels' layout).

    Once per M-step: ``np.concatenate`` of the ravelled arrays, then a cast only if
    they were not all float64 (``concatenate(..., axis=None, dtype=float64)`` takes
    about twice as long on a model of ~20 small tables)."""
    if not theta:
        return np.empty(0)
    try:
        flat = np.concatenate([t.ravel() for t in theta])
    except AttributeError:
        flat = np.concatenate([np.ravel(t) for t in theta])
    return flat if flat.dtype == np.float64 else flat.astype(np.float64)


def _largest_feasible(t0, t1, t2, alpha_max):
    """The largest α in [1, alpha_max] at which no entry of θ0 + 2αr + α²v that is
    positive in θ2 is <= 0 (the tables as one vector, as in :meth:`Squarem.propose`;
    each entry is a quadratic in α, >= 0 at α = 1; the α where it is negative form at
    most one interval per entry). Only infeasible proposals come here; the search is
    the compiled :func:`emfast._kernels.squarem_boundary` (its numpy version, ~25 array
    calls, is the oracle in tests/test_accel.py), on scratch arrays allocated here."""
    n = t0.shape[0]
    return squarem_boundary(t0, t1, t2, float(alpha_max), np.empty(n), np.empty(n))
