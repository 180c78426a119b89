"""pgmpy bridge: convert networks both ways, and fit them with emfast's exact EM.

* :func:`from_pgmpy` turns a pgmpy ``DiscreteBayesianNetwork`` with its ``TabularCPD``
  tables into an :class:`emfast.BayesianNetwork`; :func:`to_pgmpy` goes back. State
  names are kept (emfast's are strings) and the numbers are copied exactly.
* :class:`DiscreteEM` is a pgmpy parameter estimator, passed to pgmpy's own
  ``model.fit(data, estimator=DiscreteEM(...))`` as pgmpy's
  ``pgmpy.parameter_estimator.DiscreteEM`` is, with the same arguments. It runs
  emfast's exact EM (:meth:`emfast.BayesianNetwork.fit`), so it fits latent variables
  *and* NaN cells in any column: pgmpy's own EM drops every row with a missing cell.

pgmpy is imported on first use; without it these raise an ImportError naming the
extra (``pip install 'emfast[pgmpy]'``). See docs/bridges.md.

pgmpy's table layout: ``cpd.values`` has shape ``(card, *evidence_cards)`` with the
child first and the evidence in ``cpd.variables[1:]`` order; ``cpd.get_values()`` is
that array reshaped to ``(card, prod(evidence_cards))``. emfast's layout is
``(*parent_cards, card)`` with the parents in ``bn.parents(v)`` order.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from ..bayesnet import BayesianNetwork
from ..exceptions import ConvergenceWarning
from . import require

__all__ = ["from_pgmpy", "to_pgmpy", "DiscreteEM"]


def _pgmpy():
    return require("pgmpy", "pgmpy")


# ----------------------------------------------------------------------------- tables

def _cpd_table(cpd, var, parents, state_names) -> np.ndarray:
    """The values of ``cpd`` as an emfast table ``(*parent_cards, card)``.

    Axes are matched by variable name and states by state name, so a CPD whose
    evidence or states come in another order than ``parents`` / ``state_names``
    gives the same table.
    """
    names = list(cpd.variables)
    if names[0] != var:
        raise ValueError(f"the CPD given for {var!r} is a CPD of {names[0]!r}.")
    if sorted(map(str, names[1:])) != sorted(map(str, parents)) or len(names) - 1 != len(parents):
        raise ValueError(f"the CPD of {var!r} has evidence {names[1:]!r}, but {var!r} has the "
                         f"parents {list(parents)!r} in the model.")
    values = np.array(cpd.values, dtype=np.float64)          # (card, *evidence_cards)
    for ax, x in enumerate(names):
        theirs = list(cpd.state_names[x])
        ours = list(state_names[x])
        if theirs != ours:
            if len(theirs) != len(ours) or set(theirs) != set(ours):
                raise ValueError(f"the CPD of {var!r} gives {x!r} the states {theirs!r}, but "
                                 f"{x!r} has the states {ours!r}.")
            values = np.take(values, [theirs.index(s) for s in ours], axis=ax)
    return np.ascontiguousarray(values.transpose([names.index(p) for p in parents] + [0]))


def _table_cpd(var, table, parents, state_names):
    """An emfast table ``(*parent_cards, card)`` as a pgmpy ``TabularCPD``."""
    from pgmpy.factors.discrete import TabularCPD

    table = np.asarray(table, dtype=np.float64)
    card = table.shape[-1]
    values = np.moveaxis(table, -1, 0).reshape(card, -1)    # (card, configs), C order
    parents = list(parents)
    return TabularCPD(var, card, values,
                      evidence=parents or None,
                      evidence_card=[table.shape[i] for i in range(len(parents))] or None,
                      state_names={x: list(state_names[x]) for x in [var] + parents})


# ----------------------------------------------------------------------------- networks

def from_pgmpy(model) -> BayesianNetwork:
    """Convert a pgmpy ``DiscreteBayesianNetwork`` into an :class:`emfast.BayesianNetwork`.

    Parameters
    ----------
    model : pgmpy.models.DiscreteBayesianNetwork
        A network with a ``TabularCPD`` for every node.

    Returns
    -------
    BayesianNetwork
        Variables in ``model.nodes()`` order; the parents of each variable in the
        evidence order of its CPD; state labels ``str(state)`` of the CPD's state
        names; the probabilities copied exactly (``bn.cpts[v]`` is
        ``np.moveaxis(cpd.values, 0, -1)``).

    Raises
    ------
    TypeError
        ``model`` is not a pgmpy ``DiscreteBayesianNetwork``.
    ValueError
        A node has no CPD, a CPD disagrees with the graph, or a variable's states
        differ between the CPDs that mention it.

    Notes
    -----
    emfast's state labels are strings: states ``0, 1`` become ``"0", "1"``. Pass
    ``state_names=`` to :func:`to_pgmpy` to get other objects back. ``model.latents``
    is not part of the network: in emfast a variable is hidden when the data have no
    column for it.
    """
    _pgmpy()
    from pgmpy.models import DiscreteBayesianNetwork

    if not isinstance(model, DiscreteBayesianNetwork):
        raise TypeError("from_pgmpy expects a pgmpy DiscreteBayesianNetwork; got "
                        f"{type(model).__name__}.")
    nodes = list(model.nodes())
    cpds = {}
    for v in nodes:
        cpd = model.get_cpds(v)
        if cpd is None:
            raise ValueError(f"the pgmpy model has no CPD for {v!r}: add one with "
                             "model.add_cpds(...) or fit the model first.")
        cpds[v] = cpd
    graph_parents = {v: set(model.get_parents(v)) for v in nodes}
    parents = {}
    for v in nodes:
        ev = list(cpds[v].variables[1:])
        if set(ev) != graph_parents[v]:
            raise ValueError(f"the CPD of {v!r} has evidence {ev!r}, but the graph gives {v!r} "
                             f"the parents {sorted(graph_parents[v], key=str)!r}.")
        parents[v] = ev
    state_names = {v: list(cpds[v].state_names[v]) for v in nodes}
    labels = {}
    for v in nodes:
        lab = [str(s) for s in state_names[v]]
        if len(set(lab)) != len(lab):
            raise ValueError(f"the states of {v!r} are not distinct as strings: "
                             f"{state_names[v]!r}.")
        labels[v] = lab
    edges = [(p, v) for v in nodes for p in parents[v]]
    bn = BayesianNetwork(edges, {v: len(state_names[v]) for v in nodes}, states=labels)
    for v in nodes:
        bn.cpts[v] = _cpd_table(cpds[v], v, parents[v], state_names)
    return bn


def to_pgmpy(bn: BayesianNetwork, *, latents=(), state_names=None):
    """Convert an :class:`emfast.BayesianNetwork` into a pgmpy ``DiscreteBayesianNetwork``.

    Parameters
    ----------
    bn : BayesianNetwork
    latents : iterable of str, default=()
        Variables to mark as latent in the pgmpy model (``model.latents``).
    state_names : dict, optional
        ``{variable: [state, ...]}`` to use instead of ``bn.states`` (for example
        integers, or the objects that :func:`from_pgmpy` turned into strings); a list
        per variable, one state per code, in code order.

    Returns
    -------
    pgmpy.models.DiscreteBayesianNetwork
        Nodes in ``bn.variables`` order, one ``TabularCPD`` per variable with the
        evidence in ``bn.parents(v)`` order and the values of ``bn.cpts[v]`` copied
        exactly (``cpd.values`` is ``np.moveaxis(bn.cpts[v], -1, 0)``).
    """
    _pgmpy()
    from pgmpy.models import DiscreteBayesianNetwork

    if not isinstance(bn, BayesianNetwork):
        raise TypeError(f"to_pgmpy expects an emfast BayesianNetwork; got {type(bn).__name__}.")
    names = bn.states
    if state_names is not None:
        for v, s in dict(state_names).items():
            if v not in names:
                raise ValueError(f"state_names names the unknown variable {v!r}; variables "
                                 f"are {bn.variables!r}.")
            s = list(s)
            if len(s) != bn.cardinalities[v]:
                raise ValueError(f"state_names[{v!r}] has {len(s)} states but {v!r} has "
                                 f"cardinality {bn.cardinalities[v]}.")
            names[v] = s
    latents = set(latents)
    for v in latents:
        if v not in names:
            raise ValueError(f"latents names the unknown variable {v!r}; variables are "
                             f"{bn.variables!r}.")
    model = DiscreteBayesianNetwork()
    model.add_nodes_from(bn.variables)      # nodes first: model.nodes() keeps bn.variables order
    model.add_edges_from(bn.edges)
    model.latents = latents
    model.add_cpds(*[_table_cpd(v, bn.cpts[v], bn.parents(v), names) for v in bn.variables])
    model.check_model()
    return model


# ----------------------------------------------------------------------------- estimator

def _encode_column(col, states, var) -> np.ndarray:
    """Codes ``0..len(states)-1`` of a pandas column, ``-1`` where it is NaN/None/NA."""
    import pandas as pd

    codes = np.full(len(col), -1, dtype=np.int32)
    present = ~col.isna().to_numpy()
    if present.any():
        inv, uniques = pd.factorize(col[present])
        index = {s: i for i, s in enumerate(states)}
        try:
            lut = np.array([index[u] for u in uniques], dtype=np.int32)
        except KeyError as exc:
            raise ValueError(f"column {var!r} holds the state {exc.args[0]!r}, which is not "
                             f"one of its states {list(states)!r}.") from None
        codes[present] = lut[inv]
    return codes


def _available_case_table(codes, j, pj, cards, pseudocount) -> np.ndarray:
    """Maximum-likelihood (or +pseudocount) table of variable ``j`` given parents ``pj``
    from the rows where the whole family is observed; an unseen parent configuration
    gets a uniform row (pgmpy's DiscreteMLE does the same)."""
    fam = list(pj) + [j]
    shape = tuple(cards[i] for i in fam)
    sub = codes[:, fam]
    sub = sub[(sub >= 0).all(axis=1)]
    flat = np.ravel_multi_index(tuple(sub.T), shape) if sub.size else np.zeros(0, np.intp)
    counts = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(np.float64)
    counts += pseudocount
    tot = counts.sum(axis=-1, keepdims=True)
    return np.where(tot > 0, counts / np.where(tot > 0, tot, 1.0), 1.0 / shape[-1])


def _pseudocount(m_step_estimator, pseudocount) -> float:
    """The Dirichlet pseudocount that reproduces pgmpy's M-step estimator."""
    if m_step_estimator is None:
        return 0.0 if pseudocount is None else float(pseudocount)
    if pseudocount is not None:
        raise ValueError("give either m_step_estimator or pseudocount, not both.")
    from pgmpy.parameter_estimator import DiscreteBayesianEstimator, DiscreteMLE

    if type(m_step_estimator) is DiscreteMLE:
        return 0.0
    if type(m_step_estimator) is DiscreteBayesianEstimator:
        prior = str(m_step_estimator.prior_type).lower()
        pc = m_step_estimator.pseudo_counts
        if prior == "k2":
            return 1.0
        if prior == "dirichlet" and np.isscalar(pc) and not isinstance(pc, (bool, str)):
            return float(pc)
    raise ValueError(
        "emfast's DiscreteEM supports m_step_estimator=DiscreteMLE() and "
        "DiscreteBayesianEstimator(prior_type='K2') or (prior_type='dirichlet', "
        "pseudo_counts=<one number>) (one pseudocount for every cell); got "
        f"{m_step_estimator!r}.")


def _make_discrete_em():
    """Build the estimator class (it subclasses pgmpy's, so pgmpy is imported here)."""
    _pgmpy()
    from pgmpy import config as pgmpy_config
    from pgmpy import logger as pgmpy_logger
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.parameter_estimator import DiscreteParameterEstimator
    from pgmpy.utils import build_state_names

    class DiscreteEM(DiscreteParameterEstimator):
        """pgmpy parameter estimator running emfast's exact EM (latent variables and NaN cells).

        A drop-in for ``pgmpy.parameter_estimator.DiscreteEM``: the same arguments,
        passed to pgmpy's ``model.fit(data, estimator=DiscreteEM(...))`` or used as
        ``DiscreteEM(...).fit(model, data).parameters_``. Unlike pgmpy's, rows with
        NaN cells are kept: the E-step marginalises every missing cell exactly
        (junction tree per distinct row), and latent variables are hidden columns.

        Parameters
        ----------
        state_names : dict, optional
            ``{variable: [states]}``; otherwise the sorted observed values of each
            column (pgmpy's rule). Latent variables get ``list(range(card))``.
        latent_card : dict, optional
            ``{latent: number of states}``; 2 for a latent not named (pgmpy's default).
        m_step_estimator : DiscreteMLE or DiscreteBayesianEstimator, optional
            ``None`` or ``DiscreteMLE()``: maximum likelihood.
            ``DiscreteBayesianEstimator(prior_type="K2")`` (pseudocount 1) or
            ``(prior_type="dirichlet", pseudo_counts=a)`` with one number ``a``: MAP-EM
            with that pseudocount in every cell.
        max_iter : int, default=100
            Maximum number of EM iterations (M-steps).
        atol : float, default=1e-08
            pgmpy's stopping rule: stop after the first M-step whose new CPDs satisfy
            ``numpy.allclose(old, new, atol=atol)`` (so numpy's default ``rtol=1e-5``
            applies too) for every variable. Ignored when ``tol`` is given.
        n_jobs : int, default=1
            Threads of emfast's E-step (-1: all). Results do not depend on it.
        batch_size : int, default=1000
            Accepted for compatibility with pgmpy; unused (emfast has no batches).
        seed : int, optional
            Seed of pgmpy's ``TabularCPD.get_random`` for the initial CPDs that are
            not given (the same draws as pgmpy's DiscreteEM with the same seed).
        init_cpds : dict or {"random", "uniform"}, optional
            Initial CPDs, as for pgmpy: a dict ``{variable: TabularCPD}`` for some
            variables, or a string for all. Variables not given start as pgmpy starts
            them: those without a latent parent and not latent from their
            maximum-likelihood estimate (on the rows where their family is observed),
            the others at random.
        show_progress : bool, default=True
            A progress bar over iterations (when pgmpy's ``config.SHOW_PROGRESS``).
        tol : float, optional
            emfast's stopping rule instead of pgmpy's: stop when the mean per-row
            log-likelihood improves by less than ``tol`` (one call of
            :meth:`emfast.BayesianNetwork.fit`, about twice as fast per iteration as
            pgmpy's rule, which needs the CPDs after every iteration).
        pseudocount : float, optional
            Dirichlet pseudocount for every cell (instead of ``m_step_estimator``).

        Attributes
        ----------
        parameters_ : list of TabularCPD
            One CPD per node in ``model.nodes()`` order, latent variables included,
            evidence in sorted order (pgmpy's layout).
        state_names_ : dict
            ``{variable: [states]}`` used for the CPDs.
        network_ : emfast.BayesianNetwork
            The fitted emfast network (codes in ``state_names_`` order).
        n_iter_ : int
            Number of EM iterations (M-steps) run.
        converged_ : bool
            Whether the stopping rule was met before ``max_iter``.
        history_ : list of float
            Objective (log-likelihood, + log prior with a pseudocount) of the CPDs
            before each M-step, then of the returned CPDs.
        log_likelihood_ : float
            Log-likelihood of the returned CPDs on the data (missing cells and latent
            variables summed out).

        Examples
        --------
        >>> from emfast.compat.pgmpy import DiscreteEM                # doctest: +SKIP
        >>> model.fit(data_with_nans, estimator=DiscreteEM(latent_card={"L": 3}))  # doctest: +SKIP
        """

        _tags = {
            "supports_latent_variables": True,
            "supports_weighted_data": False,
        }

        def __init__(self, state_names=None, latent_card=None, m_step_estimator=None,
                     max_iter=100, atol=1e-08, n_jobs=1, batch_size=1000, seed=None,
                     init_cpds=None, show_progress=True, tol=None, pseudocount=None):
            self.latent_card = latent_card
            self.m_step_estimator = m_step_estimator
            self.max_iter = max_iter
            self.atol = atol
            self.n_jobs = n_jobs
            self.batch_size = batch_size
            self.seed = seed
            self.init_cpds = init_cpds
            self.show_progress = show_progress
            self.tol = tol
            self.pseudocount = pseudocount
            super().__init__(state_names=state_names)

        # ------------------------------------------------------------------ helpers
        def _prepare(self, model, data, sample_weight):
            """Validate as pgmpy does; return model, latents, observed, state names."""
            import pandas as pd

            from pgmpy.base import DAG

            if not isinstance(data, pd.DataFrame):
                raise TypeError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
            if not isinstance(model, DAG):
                raise TypeError("model must be a pgmpy DAG or DiscreteBayesianNetwork; got "
                                f"{type(model).__name__}.")
            model = model.copy()   # latents are promoted below: never mutate the user's model
            nodes = list(model.nodes())
            all_missing = [c for c in data.columns if c in nodes and data[c].isna().all()]
            new_latents = [c for c in all_missing if c not in model.latents]
            if new_latents:
                pgmpy_logger.warning(
                    f"Columns {new_latents} have all missing values and are not marked as "
                    "latent. Treating them as latent variables.")
                # (pgmpy's latents property returns a new set: assign, do not update)
                model.latents = set(model.latents) | set(new_latents)
            data = data.drop(columns=[c for c in data.columns if c in model.latents])
            model, _ = self._validate_inputs(model, data, sample_weight=sample_weight)
            nodes = list(model.nodes())
            latents = [v for v in nodes if v in model.latents]
            observed = [v for v in nodes if v not in model.latents]
            supplied = self.state_names if isinstance(self.state_names, dict) else None
            names = {v: list(s) for v, s in
                     build_state_names(data.loc[:, observed], state_names=supplied).items()}
            if self.latent_card is None:
                latent_card = dict.fromkeys(latents, 2)
            else:
                latent_card = {v: int(self.latent_card.get(v, 2)) for v in latents}
            for v in latents:
                if supplied is not None and v in supplied:
                    if len(supplied[v]) != latent_card[v]:
                        raise ValueError(
                            f"Conflicting cardinality for latent variable {v}: state_names "
                            f"specifies {len(supplied[v])}, latent_card specifies "
                            f"{latent_card[v]}.")
                    names[v] = list(supplied[v])
                else:
                    names[v] = list(range(latent_card[v]))
            for v in nodes:
                if len(names[v]) == 0:
                    raise ValueError(f"variable {v!r} has no state: its column has no value "
                                     "and state_names does not give its states.")
            return model, data, latents, observed, names

        def _initial_tables(self, model, latents, names, bn, codes, pseudocount):
            """Initial CPTs (emfast layout), following pgmpy's DiscreteEM rules."""
            nodes = bn.variables
            init = {} if self.init_cpds is None else self.init_cpds
            if isinstance(init, str):
                if init not in ("random", "uniform"):
                    raise ValueError("If `init_cpds` is a string, it must be either 'random' "
                                     f"or 'uniform'. Got: {init}")
                make = TabularCPD.get_random if init == "random" else TabularCPD.get_uniform
                init = {}
                for v in nodes:
                    pa = model.get_parents(v)
                    init[v] = make(variable=v, evidence=pa,
                                   cardinality={x: len(names[x]) for x in [v] + pa},
                                   state_names={x: names[x] for x in [v] + pa}, seed=self.seed)
            elif not isinstance(init, dict):
                raise TypeError("init_cpds must be a dict {variable: TabularCPD}, 'random' or "
                                f"'uniform'; got {type(init).__name__}.")
            for v in init:
                if v not in names:
                    raise ValueError(f"init_cpds names {v!r}, which is not a node of the model.")
            latent_set = set(latents)
            child_of_latent = {c for v in latents for c in model.get_children(v)}
            cards = [bn.cardinalities[v] for v in nodes]
            col = {v: j for j, v in enumerate(nodes)}
            tables = {}
            for v in nodes:
                pa = bn.parents(v)
                if v in init:
                    tables[v] = _cpd_table(init[v], v, pa, names)
                elif v not in latent_set and v not in child_of_latent:
                    tables[v] = _available_case_table(codes, col[v], [col[p] for p in pa],
                                                      cards, pseudocount)
                else:
                    evidence = list(model.predecessors(v))
                    cpd = TabularCPD.get_random(
                        variable=v, evidence=evidence,
                        cardinality={x: len(names[x]) for x in [v] + evidence},
                        state_names={x: names[x] for x in [v] + evidence}, seed=self.seed)
                    tables[v] = _cpd_table(cpd, v, pa, names)
            return tables

        # ------------------------------------------------------------------ fit
        def fit(self, model, data, sample_weight=None):
            """Estimate every CPD of ``model`` by exact EM on ``data``.

            Parameters
            ----------
            model : pgmpy.base.DAG or pgmpy.models.DiscreteBayesianNetwork
                The structure; ``model.latents`` are hidden (a fully NaN column is
                treated as latent too, as pgmpy does).
            data : pandas.DataFrame
                One column per observed node; NaN / None / pd.NA mark missing cells.
                Rows with missing cells are kept.
            sample_weight : None
                Not supported (as in pgmpy's DiscreteEM).

            Returns
            -------
            self
            """
            import contextlib

            model, data, latents, observed, names = self._prepare(model, data, sample_weight)
            pseudocount = _pseudocount(self.m_step_estimator, self.pseudocount)
            nodes = list(model.nodes())
            # evidence in sorted order, as pgmpy's DiscreteMLE lays out its CPDs
            parents = {v: sorted(model.get_parents(v)) for v in nodes}
            bn = BayesianNetwork([(p, v) for v in nodes for p in parents[v]],
                                 {v: len(names[v]) for v in nodes})
            codes = np.full((len(data), len(nodes)), -1, dtype=np.int32)
            for j, v in enumerate(nodes):
                if v in data.columns and v not in model.latents:
                    codes[:, j] = _encode_column(data[v], names[v], v)
            for v, t in self._initial_tables(model, latents, names, bn, codes,
                                             pseudocount).items():
                bn.cpts[v] = t
            if int(self.max_iter) < 1:
                raise ValueError(f"max_iter must be >= 1; got {self.max_iter!r}.")
            n_jobs = None if self.n_jobs in (None, -1) else self.n_jobs
            opts = dict(init="current", pseudocount=pseudocount, n_jobs=n_jobs)
            if "accelerate" in inspect.signature(BayesianNetwork.fit).parameters:
                # pgmpy's iterates are plain EM's: same CPDs after the same iterations
                opts["accelerate"] = None
            with warnings.catch_warnings():
                # the stopping rule is reported by converged_, as pgmpy reports nothing
                warnings.simplefilter("ignore", ConvergenceWarning)
                if self.tol is not None:
                    bn.fit(codes, max_iter=int(self.max_iter), tol=float(self.tol), **opts)
                    n_iter, converged, history = bn.n_iter_, bn.converged_, list(bn.history_)
                else:
                    progress = contextlib.nullcontext(None)
                    if self.show_progress and pgmpy_config.SHOW_PROGRESS:
                        from tqdm.auto import tqdm
                        progress = tqdm(total=int(self.max_iter))
                    # pgmpy's rule compares the CPDs of consecutive iterations, so run
                    # one EM iteration per call (the junction tree is compiled once
                    # and cached on bn; each call repeats only the row compression).
                    n_iter, converged, history = 0, False, []
                    with progress as bar:
                        while n_iter < int(self.max_iter):
                            old = {v: bn.cpts[v] for v in nodes}
                            bn.fit(codes, max_iter=1, tol=-1.0, **opts)
                            n_iter += 1
                            history.append(bn.history_[0])
                            if bar is not None:
                                bar.update(1)
                            if all(np.allclose(old[v], bn.cpts[v], atol=self.atol)
                                   for v in nodes):
                                converged = True
                                break
                    history.append(bn.history_[-1])
            self._model = model
            self.state_names_ = names
            self.network_ = bn
            self.n_iter_ = int(n_iter)
            self.converged_ = bool(converged)
            self.history_ = history
            self.log_likelihood_ = float(bn.log_likelihood_)
            self.parameters_ = [_table_cpd(v, bn.cpts[v], parents[v], names) for v in nodes]
            return self

    DiscreteEM.__module__ = __name__
    DiscreteEM.__qualname__ = "DiscreteEM"
    return DiscreteEM


_CLASSES: dict = {}


def __getattr__(name):
    # DiscreteEM subclasses pgmpy's estimator base class, so it is built (and pgmpy
    # imported) on first access: ``import emfast.compat.pgmpy`` alone imports no pgmpy.
    if name == "DiscreteEM":
        if name not in _CLASSES:
            _CLASSES[name] = _make_discrete_em()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
