"""File formats for Bayesian networks: BIF (read/write) and emfast's JSON (save/load).

BIF
---
The Bayesian Interchange Format 0.15 used by the bnlearn repository, JavaBayes,
pgmpy and pyAgrum::

    network alarm {
      property software "...";
    }
    variable CVP {
      type discrete [ 3 ] { LOW, NORMAL, HIGH };
    }
    probability ( CVP | LVEDVOLUME ) {
      (LOW) 0.95, 0.04, 0.01;
      (NORMAL) 0.04, 0.95, 0.01;
      default 0.3, 0.3, 0.4;
    }
    probability ( HYPOVOLEMIA ) {
      table 0.2, 0.8;
    }

* A ``( s1, s2, ... )`` entry gives the child's distribution (the child's
  states vary within the entry) for one configuration of the parents, listed in
  the order of the header. The table becomes ``cpts[child]`` of shape
  ``(*parent_cards, card)``, parents in the header order.
* ``default p1, ..., pk;`` fills every parent configuration no entry names.
* ``table v1, v2, ...;`` lists the whole table. For a root node that is the
  distribution itself. With parents it follows the JavaBayes / pgmpy order:
  the child varies *slowest*, then the parents in header order, the last
  parent fastest.
* ``property ...;`` statements, ``//`` and ``/* */`` comments and any
  whitespace are accepted (properties are kept in :class:`BifNetwork`, not in
  the network). Names may be quoted with ``"..."``.
* A row that sums to 1 only up to rounding (off by 1e-6 .. 1e-3) is
  renormalised; rows within 1e-6 of 1 are kept verbatim (so every network
  survives a write/read round trip exactly); a row off by more than 1e-3, a
  negative value, a missing parent configuration or an unknown state is a
  ``ValueError`` that names the variable and, where it helps, the line.

:func:`write_bif` writes every probability with ``repr`` (the shortest string
that reads back to the same double), so ``read_bif(write_bif(bn))`` gives
bit-identical tables.

JSON
----
:func:`save` / :func:`load` store the structure, the state names and the CPTs
(``format: "emfast.BayesianNetwork"``, ``format_version: 1``). Python's ``json``
writes floats with ``repr``, so the round trip is exact.
"""
from __future__ import annotations

import gzip
import io as _io
import json
import os
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BifNetwork", "parse_bif", "read_bif_spec", "write_bif", "format_bif", "save",
           "load_spec",
           "read_csv_states", "write_csv_states",
           "network_to_dict", "network_from_dict"]

#: A row whose sum differs from 1 by more than this is an error in read_bif.
BIF_ROW_TOL = 1e-3
#: A row whose sum differs from 1 by more than this is renormalised by read_bif. Rows
#: closer to 1 are kept verbatim (BayesianNetwork accepts rows within 1e-6), so that
#: every table a network can hold survives write_bif -> read_bif bit for bit.
_RENORM_TOL = 1e-6

JSON_FORMAT = "emfast.BayesianNetwork"
JSON_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------
# plain structure
# ---------------------------------------------------------------------------

@dataclass
class BifNetwork:
    """The content of a network file (BIF or emfast JSON) as plain Python/numpy structures.

    :mod:`emfast.io` returns these plain specifications and imports no model;
    :func:`emfast.read_bif` and :func:`emfast.load` build the
    :class:`~emfast.BayesianNetwork` from them (``BayesianNetwork.from_spec``).

    Attributes
    ----------
    name : str or None
        The network's name (``network NAME { ... }``).
    variables : list of str
        Variable names in declaration order.
    states : dict
        ``{name: [state labels]}``.
    parents : dict
        ``{name: [parent names]}`` in the order of the probability header.
    tables : dict
        ``{name: ndarray of shape (*parent_cards, card)}``, float64.
    properties : dict
        ``{name: [property strings]}`` of each variable block, and
        ``{"network": [...]}`` is in :attr:`network_properties`.
    network_properties : list of str
    edge_order : list of (str, str), optional
        The edges in the order the file lists them (JSON); ``None`` for BIF.
    """

    name: str | None
    variables: list
    states: dict
    parents: dict
    tables: dict
    properties: dict = field(default_factory=dict)
    network_properties: list = field(default_factory=list)
    edge_order: list | None = None

    @property
    def cardinalities(self) -> dict:
        return {v: len(self.states[v]) for v in self.variables}

    @property
    def edges(self) -> list:
        """``(parent, child)`` pairs; their order gives each child's parent order (the
        order of the file's ``edges`` when it lists them, as emfast's JSON does)."""
        if self.edge_order is not None:
            return list(self.edge_order)
        return [(p, v) for v in self.variables for p in self.parents[v]]


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------

_COMMENT_RE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:[^"\\\n]|\\.)*"', re.DOTALL)
_BLOCK_HEAD_RE = re.compile(r"\s*(network|variable|probability)\b", re.ASCII)
_TYPE_RE = re.compile(r"^\s*type\s+discrete\s*\[\s*(\d+)\s*\]\s*\{(.*)\}\s*$", re.DOTALL)
_PROB_HEAD_RE = re.compile(r"\s*\((.*?)\)\s*\{", re.DOTALL)
_NAME_RE = re.compile(r'^(?:"[^"]*"|[^\s,;(){}\[\]|"]+)$')
_WS_RE = re.compile(r"\s+")


def _strip_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments, keeping line breaks and quoted strings."""
    if "/" not in text:
        return text

    def repl(m):
        s = m.group(0)
        if s.startswith('"'):
            return s
        return "\n" * s.count("\n")  # keep line numbers right

    return _COMMENT_RE.sub(repl, text)


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def _split_list(s: str) -> list:
    """Split ``a, b, c`` (or the older ``a b c``) into stripped, unquoted items."""
    s = s.strip()
    if not s:
        return []
    if "," in s:
        return [_unquote(t) for t in s.split(",")]
    return [_unquote(t) for t in s.split()]


def _lineno(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _find_block_end(text: str, open_pos: int, has_quotes: bool = True) -> int:
    """Index of the ``}`` that closes the ``{`` at ``open_pos`` (quotes respected)."""
    depth = 0
    i = open_pos
    n = len(text)
    while i < n:
        j_open = text.find("{", i)
        j_close = text.find("}", i)
        if j_close >= 0 and j_open > j_close:
            j_open = -1  # only the nearer brace matters
        j_quote = text.find('"', i, j_close if j_close >= 0 else n) if has_quotes else -1
        cands = [j for j in (j_open, j_close, j_quote) if j >= 0]
        if not cands:
            break
        j = min(cands)
        if j == j_quote:
            k = text.find('"', j + 1)
            if k < 0:
                raise ValueError(f"BIF: unterminated quoted string at line {_lineno(text, j)}.")
            i = k + 1
            continue
        if j == j_open:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return j
        i = j + 1
    raise ValueError(f"BIF: the block opened at line {_lineno(text, open_pos)} is never "
                     "closed with '}'.")


def _statements(body: str) -> list:
    """Split a block body at top-level ``;`` (braces and quotes respected)."""
    if '"' not in body and "{" not in body:
        return [s for s in (t.strip() for t in body.split(";")) if s]
    out, depth, start, inq = [], 0, 0, False
    for i, ch in enumerate(body):
        if inq:
            if ch == '"':
                inq = False
        elif ch == '"':
            inq = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            s = body[start:i].strip()
            if s:
                out.append(s)
            start = i + 1
    s = body[start:].strip()
    if s:
        out.append(s)
    return out


def _numbers(s: str, what: str) -> np.ndarray:
    toks = s.replace(",", " ").split()
    try:
        return np.array(toks, dtype=np.float64)
    except ValueError:
        for t in toks:
            try:
                float(t)
            except ValueError:
                raise ValueError(f"BIF: {what} has {t!r} where a probability was expected.") from None
        raise  # pragma: no cover


def _parse_variable(name: str, body: str, where: str):
    states, props = None, []
    for st in _statements(body):
        if st.startswith("property"):
            props.append(st[len("property"):].strip())
            continue
        m = _TYPE_RE.match(st)
        if m is None:
            if st.startswith("type"):
                raise ValueError(f"BIF: variable {name!r} ({where}) has an unsupported type "
                                 f"declaration {st[:60]!r}; only 'type discrete [ n ] {{ ... }}' "
                                 "is supported.")
            raise ValueError(f"BIF: variable {name!r} ({where}) has an unknown statement "
                             f"{st[:60]!r}.")
        n = int(m.group(1))
        states = _split_list(m.group(2))
        if len(states) != n:
            raise ValueError(f"BIF: variable {name!r} ({where}) declares {n} states but lists "
                             f"{len(states)}: {states!r}.")
        if n < 1:
            raise ValueError(f"BIF: variable {name!r} ({where}) has no states.")
        if len(set(states)) != n:
            dup = sorted({s for s in states if states.count(s) > 1})
            raise ValueError(f"BIF: variable {name!r} ({where}) lists the state(s) {dup!r} more "
                             "than once.")
    if states is None:
        raise ValueError(f"BIF: variable {name!r} ({where}) has no 'type discrete' declaration.")
    return states, props


def _parse_prob_header(head: str, where: str):
    if "|" in head:
        child, _, rest = head.partition("|")
        child = _unquote(child)
        parents = _split_list(rest)
    else:  # old format "( child p1 p2 )" or "( child )"
        toks = _split_list(head)
        if not toks:
            raise ValueError(f"BIF: probability block ({where}) names no variable.")
        child, parents = toks[0], toks[1:]
    if not child:
        raise ValueError(f"BIF: probability block ({where}) names no variable.")
    if any(not p for p in parents):
        raise ValueError(f"BIF: probability block for {child!r} ({where}) has an empty parent "
                         "name.")
    return child, parents


def _check_row_sums(table: np.ndarray, child: str, where: str) -> np.ndarray:
    if np.any(~np.isfinite(table)):
        raise ValueError(f"BIF: the table of {child!r} ({where}) contains a non-finite value.")
    if np.any(table < 0):
        raise ValueError(f"BIF: the table of {child!r} ({where}) contains the negative value "
                         f"{float(table[table < 0][0])!r}.")
    sums = table.sum(axis=-1)
    off = np.abs(sums - 1.0)
    if np.any(off > BIF_ROW_TOL):
        idx = np.unravel_index(int(np.argmax(off)), sums.shape)
        raise ValueError(f"BIF: a row of the table of {child!r} ({where}) sums to "
                         f"{float(sums[idx])!r} (parent configuration {tuple(int(i) for i in idx)}); "
                         "probabilities of the child's states must sum to 1.")
    fix = off > _RENORM_TOL
    if np.any(fix):
        table = table.copy()
        table[fix] = table[fix] / sums[fix][..., None]
    return table


def _parse_probability(child, parents, body, states, where):
    card = len(states[child])
    pcards = [len(states[p]) for p in parents]
    n_cfg = int(np.prod(pcards, dtype=np.int64)) if pcards else 1
    flat = np.full((n_cfg, card), np.nan)
    seen = np.zeros(n_cfg, dtype=bool)
    default = None
    strides = np.ones(len(parents), dtype=np.int64)
    for k in range(len(parents) - 2, -1, -1):
        strides[k] = strides[k + 1] * pcards[k + 1]
    pmaps = [{s: i for i, s in enumerate(states[p])} for p in parents]
    table_stmt = False
    for st in _statements(body):
        if st.startswith("("):
            close = st.find(")")
            if close < 0:
                raise ValueError(f"BIF: probability block for {child!r} ({where}) has an entry "
                                 f"without ')': {st[:60]!r}.")
            labels = _split_list(st[1:close])
            if len(labels) != len(parents):
                raise ValueError(f"BIF: probability block for {child!r} ({where}) has the entry "
                                 f"({', '.join(labels)}) with {len(labels)} parent states; the "
                                 f"header names {len(parents)} parents {parents!r}.")
            idx = 0
            for k, (lab, pm) in enumerate(zip(labels, pmaps)):
                code = pm.get(lab)
                if code is None:
                    raise ValueError(f"BIF: probability block for {child!r} ({where}): {lab!r} "
                                     f"is not a state of parent {parents[k]!r} (states: "
                                     f"{states[parents[k]]!r}).")
                idx += code * int(strides[k])
            vals = _numbers(st[close + 1:], f"the entry ({', '.join(labels)}) of {child!r} ({where})")
            if vals.size != card:
                raise ValueError(f"BIF: the entry ({', '.join(labels)}) of {child!r} ({where}) has "
                                 f"{vals.size} probabilities; {child!r} has {card} states.")
            if seen[idx]:
                raise ValueError(f"BIF: probability block for {child!r} ({where}) gives the parent "
                                 f"configuration ({', '.join(labels)}) twice.")
            seen[idx] = True
            flat[idx] = vals
        elif st.startswith("table") and (len(st) == 5 or not (st[5].isalnum() or st[5] == "_")):
            vals = _numbers(st[5:], f"the table of {child!r} ({where})")
            if vals.size != n_cfg * card:
                raise ValueError(f"BIF: the table of {child!r} ({where}) has {vals.size} values; "
                                 f"expected {n_cfg * card} ({card} states x {n_cfg} parent "
                                 "configurations).")
            # JavaBayes/pgmpy order: child slowest, last parent fastest.
            flat = np.ascontiguousarray(vals.reshape(card, n_cfg).T)
            seen[:] = True
            table_stmt = True
        elif st.startswith("default") and (len(st) == 7 or not (st[7].isalnum() or st[7] == "_")):
            vals = _numbers(st[7:], f"the default entry of {child!r} ({where})")
            if vals.size != card:
                raise ValueError(f"BIF: the default entry of {child!r} ({where}) has {vals.size} "
                                 f"probabilities; {child!r} has {card} states.")
            default = vals
        elif st.startswith("property"):
            continue
        else:
            raise ValueError(f"BIF: probability block for {child!r} ({where}) has an unknown "
                             f"statement {st[:60]!r}.")
    if not seen.all():
        if default is not None:
            flat[~seen] = default
        else:
            i = int(np.flatnonzero(~seen)[0])
            labels = [states[p][(i // int(strides[k])) % pcards[k]] for k, p in enumerate(parents)]
            raise ValueError(f"BIF: probability block for {child!r} ({where}) gives no "
                             f"distribution for the parent configuration ({', '.join(labels)}) "
                             f"and has no 'default' entry ({int((~seen).sum())} configuration(s) "
                             "missing).")
    del table_stmt
    table = flat.reshape(*pcards, card)
    return _check_row_sums(table, child, where)


def parse_bif(text: str) -> BifNetwork:
    """Parse BIF text into a :class:`BifNetwork` (plain structures, no model).

    Parameters
    ----------
    text : str
        The content of a BIF file.

    Returns
    -------
    BifNetwork

    Raises
    ------
    ValueError
        On any syntax or consistency error, naming the variable and the line.
    """
    text = _strip_comments(text)
    has_quotes = '"' in text
    pos = 0
    line_pos, line_no = 0, 1  # incremental line counting (files reach several MB)
    name = None
    net_props: list = []
    states: dict = {}
    var_props: dict = {}
    var_where: dict = {}
    prob_blocks = []  # (child, parents, body, where)
    while True:
        m = _BLOCK_HEAD_RE.match(text, pos)
        if m is None:
            rest = text[pos:].strip()
            if rest:
                p = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
                raise ValueError(f"BIF: unexpected text at line {_lineno(text, p)}: "
                                 f"{rest[:40]!r}; expected 'network', 'variable' or "
                                 "'probability'.")
            break
        kind = m.group(1)
        line_no += text.count("\n", line_pos, m.start(1))
        line_pos = m.start(1)
        where = f"line {line_no}"
        open_pos = text.find("{", m.end())
        if open_pos < 0:
            raise ValueError(f"BIF: the {kind} block at {where} has no '{{'.")
        if kind == "probability":
            hm = _PROB_HEAD_RE.match(text, m.end())
            if hm is None:
                raise ValueError(f"BIF: the probability block at {where} must start with "
                                 "'probability ( child | parents ) {'.")
            open_pos = hm.end() - 1
            head = hm.group(1)
        else:
            head = text[m.end():open_pos].strip()
        close = _find_block_end(text, open_pos, has_quotes)
        body = text[open_pos + 1:close]
        pos = close + 1
        if kind == "network":
            name = _unquote(head) if head else None
            net_props = [st[len("property"):].strip() for st in _statements(body)
                         if st.startswith("property")]
        elif kind == "variable":
            vname = _unquote(head)
            if not vname or not _NAME_RE.match(head):
                raise ValueError(f"BIF: the variable block at {where} has the invalid name "
                                 f"{head!r}.")
            if vname in states:
                raise ValueError(f"BIF: variable {vname!r} is declared twice ({var_where[vname]} "
                                 f"and {where}).")
            states[vname], var_props[vname] = _parse_variable(vname, body, where)
            var_where[vname] = where
        else:
            child, parents = _parse_prob_header(head, where)
            prob_blocks.append((child, parents, body, where))

    parents_of: dict = {}
    tables: dict = {}
    for child, parents, body, where in prob_blocks:
        if child not in states:
            raise ValueError(f"BIF: the probability block at {where} is for {child!r}, which is "
                             "not a declared variable.")
        for p in parents:
            if p not in states:
                raise ValueError(f"BIF: the probability block for {child!r} ({where}) names the "
                                 f"parent {p!r}, which is not a declared variable.")
        if len(set(parents)) != len(parents) or child in parents:
            raise ValueError(f"BIF: the probability block for {child!r} ({where}) lists a "
                             f"parent twice or the variable itself: {parents!r}.")
        if child in tables:
            raise ValueError(f"BIF: variable {child!r} has two probability blocks (the second "
                             f"at {where}).")
        parents_of[child] = list(parents)
        tables[child] = _parse_probability(child, parents, body, states, where)
    missing = [v for v in states if v not in tables]
    if missing:
        raise ValueError(f"BIF: variable(s) {missing[:5]!r} have no probability block"
                         f"{' (and more)' if len(missing) > 5 else ''}.")
    if not states:
        raise ValueError("BIF: the file declares no variable.")
    return BifNetwork(name=name, variables=list(states), states=states, parents=parents_of,
                      tables=tables, properties=var_props, network_properties=net_props)


def _read_text(path) -> str:
    if hasattr(path, "read"):
        data = path.read()
    else:
        with open(os.fspath(path), "rb") as fh:
            data = fh.read()
    if isinstance(data, bytes):
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        data = data.decode("utf-8-sig", errors="strict")
    return data


def _write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path``, gzip-compressed (reproducibly: no name, mtime 0) when it
    ends in ``.gz``; the counterpart of :func:`_read_text`."""
    path = os.fspath(path)
    if path.endswith(".gz"):
        with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0,
                                                  filename="") as gz:
            gz.write(data)
    else:
        with open(path, "wb") as fh:
            fh.write(data)


def read_bif_spec(path) -> BifNetwork:
    """Read a BIF file (plain or gzip, path or file object) into a :class:`BifNetwork`.

    The plain specification behind :func:`emfast.read_bif` (which builds the
    :class:`~emfast.BayesianNetwork`); see :func:`parse_bif` for the errors.
    """
    return parse_bif(_read_text(path))


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def _states_of(bn, v) -> list:
    st = getattr(bn, "states", None)
    if st is not None:
        s = st.get(v) if isinstance(st, dict) else None
        if s is not None:
            return [str(x) for x in s]
    return [str(i) for i in range(int(bn.cardinalities[v]))]


def _check_token(s: str, what: str) -> str:
    if not s or not _NAME_RE.match(s) or s.startswith('"'):
        raise ValueError(f"{what} {s!r} cannot be written to BIF: names and states must be "
                         "non-empty and contain no whitespace or any of , ; ( ) { } [ ] | \".")
    return s


def _cardinalities(bn) -> dict:
    c = bn.cardinalities
    return {v: int(c[v]) for v in bn.variables}


def format_bif(bn, name: str | None = None) -> str:
    """Return the BIF text of a network (what :func:`write_bif` writes)."""
    if name is None:
        name = getattr(bn, "name", None) or "unknown"
    _check_token(str(name), "The network name")
    cards = _cardinalities(bn)
    out = _io.StringIO()
    w = out.write
    w(f"network {name} {{\n}}\n")
    states = {}
    for v in bn.variables:
        _check_token(v, "Variable name")
        states[v] = [_check_token(s, f"A state of {v!r}:") for s in _states_of(bn, v)]
        w(f"variable {v} {{\n  type discrete [ {cards[v]} ] {{ {', '.join(states[v])} }};\n}}\n")
    for v in bn.variables:
        parents = tuple(bn.parents(v))
        t = np.asarray(bn.cpts[v], dtype=np.float64)
        pcards = tuple(cards[p] for p in parents)
        if t.shape != pcards + (cards[v],):
            raise ValueError(f"cpts[{v!r}] has shape {t.shape}; expected {pcards + (cards[v],)}.")
        if not parents:
            w(f"probability ( {v} ) {{\n  table {', '.join(map(repr, t.tolist()))};\n}}\n")
            continue
        w(f"probability ( {v} | {', '.join(parents)} ) {{\n")
        rows = t.reshape(-1, cards[v]).tolist()
        for i, cfg in enumerate(np.ndindex(*pcards)):
            labels = ", ".join(states[p][c] for p, c in zip(parents, cfg))
            w(f"  ({labels}) {', '.join(map(repr, rows[i]))};\n")
        w("}\n")
    return out.getvalue()


def write_bif(bn, path, *, name: str | None = None) -> None:
    """Write a Bayesian network to a BIF file (gzip-compressed when ``path`` ends in ``.gz``).

    Probabilities are written with ``repr`` (shortest exact round-trip form),
    so :func:`read_bif` gives back bit-identical tables.

    Parameters
    ----------
    bn : BayesianNetwork
    path : str or path-like
    name : str, optional
        Network name; default ``bn.name`` when set, else ``"unknown"``.
    """
    text = format_bif(bn, name=name).encode("utf-8")
    _write_bytes(path, text)


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

def network_to_dict(bn) -> dict:
    """The JSON-ready dict that :func:`save` writes."""
    from ._version import __version__

    cards = _cardinalities(bn)
    st = getattr(bn, "states", None)
    variables = []
    for v in bn.variables:
        entry = {"name": v, "cardinality": cards[v]}
        if isinstance(st, dict) and st.get(v) is not None:
            entry["states"] = [str(s) for s in st[v]]
        variables.append(entry)
    cpts = {}
    for v in bn.variables:
        t = np.asarray(bn.cpts[v], dtype=np.float64)
        cpts[v] = {"shape": list(t.shape), "values": t.ravel().tolist()}
    d = {
        "format": JSON_FORMAT,
        "format_version": JSON_FORMAT_VERSION,
        "emfast_version": __version__,
        "name": getattr(bn, "name", None),
        "variables": variables,
        "edges": [list(e) for e in bn.edges],
        "cpts": cpts,
    }
    return d


def network_from_dict(d: dict) -> BifNetwork:
    """The plain specification (a :class:`BifNetwork`) in a dict of :func:`network_to_dict`.

    The JSON fields are validated here; the network built from it
    (:func:`emfast.load`) validates the structure and the CPTs."""
    if not isinstance(d, dict) or d.get("format") != JSON_FORMAT:
        got = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"Not an emfast network file: 'format' is {got!r}, expected "
                         f"{JSON_FORMAT!r}.")
    ver = d.get("format_version")
    if not isinstance(ver, int) or ver > JSON_FORMAT_VERSION or ver < 1:
        raise ValueError(f"Unsupported emfast network format_version {ver!r}; this emfast "
                         f"reads versions 1..{JSON_FORMAT_VERSION}.")
    for key in ("variables", "edges", "cpts"):
        if key not in d:
            raise ValueError(f"The emfast network file has no {key!r} entry.")
    cards, states = {}, {}
    for i, entry in enumerate(d["variables"]):
        try:
            v, k = entry["name"], int(entry["cardinality"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"variables[{i}] must have a 'name' and an integer 'cardinality'; "
                             f"got {entry!r}.") from None
        if v in cards:
            raise ValueError(f"The variable {v!r} is listed twice in 'variables'.")
        cards[v] = k
        if entry.get("states") is not None:
            states[v] = list(entry["states"])
    edges = []
    for i, e in enumerate(d["edges"]):
        if not isinstance(e, (list, tuple)) or len(e) != 2:
            raise ValueError(f"edges[{i}] must be a [parent, child] pair; got {e!r}.")
        edges.append((e[0], e[1]))
    tables = {}
    for v in cards:
        if v not in d["cpts"]:
            raise ValueError(f"The emfast network file has no CPT for {v!r}.")
        c = d["cpts"][v]
        vals = np.asarray(c["values"], dtype=np.float64)
        shape = tuple(int(s) for s in c["shape"])
        if vals.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"The CPT of {v!r} has {vals.size} values for shape {shape}.")
        tables[v] = vals.reshape(shape)
    parents = {v: [] for v in cards}
    for p, c in edges:
        if c not in parents:
            raise ValueError(f"edges[{edges.index((p, c))}] = {[p, c]!r} names {c!r}, which is "
                             "not in 'variables'.")
        parents[c].append(p)
    full_states = {v: (list(states[v]) if v in states else [str(i) for i in range(cards[v])])
                   for v in cards}
    return BifNetwork(name=d.get("name"), variables=list(cards), states=full_states,
                      parents=parents, tables=tables, edge_order=edges)


def save(bn, path) -> None:
    """Save a network (structure, state names, CPTs) as JSON; :func:`load` reads it back exactly.

    A path ending in ``.gz`` is gzip-compressed.
    """
    text = json.dumps(network_to_dict(bn), indent=1, allow_nan=False).encode("utf-8")
    _write_bytes(path, text)


def load_spec(path) -> BifNetwork:
    """Read a network file written by :func:`save` (plain or gzip JSON) into its plain
    specification; :func:`emfast.load` builds the network from it."""
    text = _read_text(path)
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path) if not hasattr(path, 'read') else 'The file'} is not "
                         f"valid JSON: {exc}.") from None
    return network_from_dict(d)


# ---------------------------------------------------------------------------
# CSV of state labels (the `emfast fit` / `emfast impute` data format)
# ---------------------------------------------------------------------------

def read_csv_states(path, bn, *, missing=("",)):
    """Read a CSV of state labels into int32 codes for the network ``bn``.

    The header names the columns; every column must be a variable of ``bn``
    (variables without a column are hidden). Cells hold state labels as in
    ``bn.states``; an empty cell (after stripping spaces) is missing. Uses
    the ``csv`` module only (no pandas needed).

    Parameters
    ----------
    path : str or path-like
    bn : BayesianNetwork
    missing : tuple of str, default=("",)
        Cell values that mean "missing".

    Returns
    -------
    codes : ndarray of shape (n_rows, n_columns), int32
        ``-1`` where a cell is missing.
    columns : list of str
        The header, in file order.

    Raises
    ------
    ValueError
        Naming the file, the line and the column for an unknown column, a
        repeated column, a row of the wrong length or an unknown label.
    """
    import csv

    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    states = bn.states
    with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path} is empty: a CSV with a header line naming the "
                             "variables is expected.") from None
        unknown = [h for h in header if h not in states]
        if unknown:
            raise ValueError(f"{path}: column(s) {unknown!r} are not variables of the network; "
                             f"its variables are {list(states)!r}.")
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise ValueError(f"{path}: column(s) {dup!r} appear more than once in the header.")
        maps = [{s: i for i, s in enumerate(states[h])} for h in header]
        for m in maps:
            for s in missing:
                m[s] = -1
        ncol = len(header)
        rows = []
        for r in reader:
            if not r or (len(r) == 1 and not r[0].strip() and ncol != 1):
                continue  # blank line
            line = reader.line_num
            if len(r) != ncol:
                raise ValueError(f"{path}, line {line}: {len(r)} cells, but the header has "
                                 f"{ncol} columns.")
            out = []
            for j, cell in enumerate(r):
                code = maps[j].get(cell)
                if code is None:
                    code = maps[j].get(cell.strip())
                    if code is None:
                        raise ValueError(
                            f"{path}, line {line}, column {header[j]!r}: {cell!r} is not a state "
                            f"of {header[j]!r}; its states are {states[header[j]]!r} (leave the "
                            "cell empty for a missing value).")
                out.append(code)
            rows.append(out)
    codes = np.array(rows, dtype=np.int32).reshape(len(rows), ncol)
    return codes, header


def write_csv_states(path, codes, columns, bn) -> None:
    """Write int codes as a CSV of state labels (``-1`` becomes an empty cell)."""
    import csv

    codes = np.asarray(codes)
    states = bn.states
    labels = [np.asarray(list(states[c]) + [""], dtype=object) for c in columns]
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        cols = [lab[np.where(codes[:, j] < 0, len(lab) - 1, codes[:, j])]
                for j, lab in enumerate(labels)]
        w.writerows(zip(*cols) if cols else [])
