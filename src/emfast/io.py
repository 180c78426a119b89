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
import math
import os
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from ._config import check_memory

__all__ = ["BifNetwork", "parse_bif", "read_bif_spec", "write_bif", "format_bif",
           "check_bif_names", "save",
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
    n_cfg = math.prod(pcards)          # Python ints: no int64 wrap-around
    # A 'default' entry fills every configuration, so a few lines can ask for a huge
    # table: check the size against the memory budget before allocating it.
    check_memory(n_cfg * card * 8 + n_cfg,
                 f"BIF: the table of {child!r} ({where}; {n_cfg * card:,} probabilities)")
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


def _source_name(path) -> str:
    """How messages name a path or file object."""
    if hasattr(path, "read"):
        name = getattr(path, "name", None)
        return str(name) if isinstance(name, (str, bytes, os.PathLike)) else "the file"
    if isinstance(path, (str, bytes, os.PathLike)):
        return os.fsdecode(path)
    return repr(path)


def _read_text(path) -> str:
    """The text of a file (path or file object), gunzipped when it starts with the gzip
    magic bytes. A truncated or corrupt gzip stream, undecodable UTF-8 or a file that
    decompresses beyond the memory budget is a ``ValueError`` that names the file."""
    name = _source_name(path)
    if hasattr(path, "read"):
        data = path.read()
    else:
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError(f"path must be a file name or a file object; got "
                            f"{type(path).__name__}.")
        with open(os.fspath(path), "rb") as fh:
            data = fh.read()
    if isinstance(data, str):
        return data
    if not isinstance(data, bytes):
        raise TypeError(f"{name}: read() returned {type(data).__name__}, expected bytes or str.")
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, name)
    try:
        return data.decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not UTF-8 text: {exc}.") from None


def _gunzip(data: bytes, name: str) -> bytes:
    """Decompress a gzip file in pieces, refusing output beyond the memory budget (a
    small .gz can expand a thousandfold)."""
    out, total = [], 0
    try:
        with gzip.GzipFile(fileobj=_io.BytesIO(data), mode="rb") as gz:
            while True:
                piece = gz.read(1 << 24)
                if not piece:
                    break
                total += len(piece)
                check_memory(total, f"decompressing {name}")
                out.append(piece)
    except (EOFError, OSError, zlib.error) as exc:   # gzip.BadGzipFile is an OSError
        raise ValueError(f"{name} is not a valid gzip file (truncated or corrupt): "
                         f"{exc or type(exc).__name__}.") from None
    return b"".join(out)


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
    name = _source_name(path)
    text = _read_text(path)
    try:
        return parse_bif(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


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


def check_bif_names(bn, name: str | None = None) -> None:
    """Raise the ``ValueError`` :func:`write_bif` would raise for a name or state label
    that BIF cannot hold, without formatting the tables (``emfast fit`` checks its
    output before fitting)."""
    if name is None:
        name = getattr(bn, "name", None) or "unknown"
    _check_token(str(name), "The network name")
    for v in bn.variables:
        _check_token(v, "Variable name")
        for s in _states_of(bn, v):
            _check_token(s, f"A state of {v!r}:")


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


_TOP_KEYS = {"format", "format_version", "emfast_version", "name", "variables", "edges", "cpts"}
_VAR_KEYS = {"name", "cardinality", "states"}
_CPT_KEYS = {"shape", "values"}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _unknown_keys(obj: dict, allowed: set, where: str, pre: str) -> None:
    extra = sorted(map(str, set(obj) - allowed))
    if extra:
        raise ValueError(f"{pre}{where} has the unknown field(s) {extra!r}; the allowed fields "
                         f"are {sorted(allowed)!r}.")


def network_from_dict(d: dict, *, source: str | None = None) -> BifNetwork:
    """The plain specification (a :class:`BifNetwork`) in a dict of :func:`network_to_dict`.

    Every field is checked strictly, as JSON types (a state list must be a list of
    strings, a cardinality an integer, ``format_version`` the integer 1, no unknown
    field); any problem is a ``ValueError`` naming the field (and ``source``, the
    file, when given). The network built from it (:func:`emfast.load`) then
    validates the structure and the CPT values.
    """
    pre = f"{source}: " if source else ""
    if not isinstance(d, dict):
        raise ValueError(f"{pre}Not an emfast network file: the top level is "
                         f"{_json_type(d)}, expected an object with 'format': {JSON_FORMAT!r}.")
    if d.get("format") != JSON_FORMAT:
        raise ValueError(f"{pre}Not an emfast network file: 'format' is {d.get('format')!r}, "
                         f"expected {JSON_FORMAT!r}.")
    ver = d.get("format_version")
    if not _is_int(ver) or not 1 <= ver <= JSON_FORMAT_VERSION:
        raise ValueError(f"{pre}Unsupported emfast network format_version {ver!r}; this emfast "
                         f"reads the integer versions 1..{JSON_FORMAT_VERSION}.")
    _unknown_keys(d, _TOP_KEYS, "the file", pre)
    for key in ("variables", "edges", "cpts"):
        if key not in d:
            raise ValueError(f"{pre}The emfast network file has no {key!r} entry.")
    if "emfast_version" in d and not isinstance(d["emfast_version"], str):
        raise ValueError(f"{pre}'emfast_version' must be a string; got "
                         f"{_json_type(d['emfast_version'])}.")
    name = d.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{pre}'name' must be a string or null; got {_json_type(name)}.")
    variables = d["variables"]
    if not isinstance(variables, list):
        raise ValueError(f"{pre}'variables' must be a list of {{'name', 'cardinality', "
                         f"'states'}} objects; got {_json_type(variables)}.")
    if not variables:
        raise ValueError(f"{pre}'variables' is empty; a network needs at least one variable.")
    cards, states = {}, {}
    for i, entry in enumerate(variables):
        w = f"variables[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{pre}{w} must be an object with 'name' and 'cardinality'; got "
                             f"{_json_type(entry)}.")
        _unknown_keys(entry, _VAR_KEYS, w, pre)
        v, k = entry.get("name"), entry.get("cardinality")
        if not isinstance(v, str) or not v:
            raise ValueError(f"{pre}{w}.name must be a non-empty string; got {v!r}.")
        if not _is_int(k) or k < 1:
            raise ValueError(f"{pre}{w}.cardinality (variable {v!r}) must be an integer >= 1; "
                             f"got {k!r}.")
        if v in cards:
            raise ValueError(f"{pre}The variable {v!r} is listed twice in 'variables' "
                             f"({w}).")
        cards[v] = k
        st = entry.get("states")
        if st is not None:
            if not isinstance(st, list) or not all(isinstance(x, str) for x in st):
                raise ValueError(f"{pre}{w}.states (variable {v!r}) must be a list of strings; "
                                 f"got {_json_type(st)} {_short(st)}.")
            if len(st) != k:
                raise ValueError(f"{pre}{w}.states (variable {v!r}) lists {len(st)} states but "
                                 f"its cardinality is {k}.")
            if len(set(st)) != len(st):
                dup = sorted({x for x in st if st.count(x) > 1})
                raise ValueError(f"{pre}{w}.states (variable {v!r}) repeats {dup!r}.")
            states[v] = list(st)
    if not isinstance(d["edges"], list):
        raise ValueError(f"{pre}'edges' must be a list of [parent, child] pairs; got "
                         f"{_json_type(d['edges'])}.")
    edges = []
    for i, e in enumerate(d["edges"]):
        if not isinstance(e, list) or len(e) != 2 or not all(isinstance(x, str) for x in e):
            raise ValueError(f"{pre}edges[{i}] must be a [parent, child] pair of variable "
                             f"names; got {_short(e)}.")
        for x in e:
            if x not in cards:
                raise ValueError(f"{pre}edges[{i}] = {e!r} names {x!r}, which is not in "
                                 "'variables'.")
        edges.append((e[0], e[1]))
    parents = {v: [] for v in cards}
    for p, c in edges:
        parents[c].append(p)
    cpts = d["cpts"]
    if not isinstance(cpts, dict):
        raise ValueError(f"{pre}'cpts' must be an object {{variable: {{'shape', 'values'}}}}; "
                         f"got {_json_type(cpts)}.")
    extra = [k for k in cpts if k not in cards]
    if extra:
        raise ValueError(f"{pre}'cpts' has a table for {extra[0]!r}, which is not in "
                         "'variables'.")
    tables = {}
    for v in cards:
        w = f"cpts[{v!r}]"
        if v not in cpts:
            raise ValueError(f"{pre}The emfast network file has no CPT for {v!r} ({w}).")
        c = cpts[v]
        if not isinstance(c, dict):
            raise ValueError(f"{pre}{w} must be an object with 'shape' and 'values'; got "
                             f"{_json_type(c)}.")
        _unknown_keys(c, _CPT_KEYS, w, pre)
        for key in ("shape", "values"):
            if key not in c:
                raise ValueError(f"{pre}{w} has no {key!r} field.")
        shape, vals = c["shape"], c["values"]
        expected = [cards[p] for p in parents[v]] + [cards[v]]
        if not isinstance(shape, list) or not all(_is_int(x) for x in shape):
            raise ValueError(f"{pre}{w}.shape must be a list of integers; got {_short(shape)}.")
        if shape != expected:
            raise ValueError(f"{pre}{w}.shape is {shape!r}, but variable {v!r} with parents "
                             f"{parents[v]!r} needs {expected!r} (parent cardinalities, then "
                             "its own).")
        if not isinstance(vals, list):
            raise ValueError(f"{pre}{w}.values must be a flat list of numbers; got "
                             f"{_json_type(vals)}.")
        n = math.prod(expected)
        if len(vals) != n:
            raise ValueError(f"{pre}{w}.values has {len(vals)} numbers; shape {shape!r} needs "
                             f"{n}.")
        for j, x in enumerate(vals):
            if not _is_number(x):
                raise ValueError(f"{pre}{w}.values[{j}] must be a number; got {_short(x)}.")
            if not -_FLOAT_MAX <= x <= _FLOAT_MAX:   # also NaN, +-Infinity, 1e400 as an int
                raise ValueError(f"{pre}{w}.values[{j}] = {_short(x)} is not a finite "
                                 "probability.")
        tables[v] = np.array(vals, dtype=np.float64).reshape(expected)
    full_states = {v: (list(states[v]) if v in states else [str(i) for i in range(cards[v])])
                   for v in cards}
    return BifNetwork(name=name, variables=list(cards), states=full_states,
                      parents=parents, tables=tables, edge_order=edges)


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _json_type(x) -> str:
    """The JSON name of a parsed value's type ('a list', 'a number', ...)."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, (int, float)):
        return "a number"
    if isinstance(x, str):
        return "a string"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "an object"
    return type(x).__name__


def _short(x, n: int = 60) -> str:
    r = repr(x)
    return r if len(r) <= n else r[:n] + "..."


def save(bn, path) -> None:
    """Save a network (structure, state names, CPTs) as JSON; :func:`load` reads it back exactly.

    A path ending in ``.gz`` is gzip-compressed.
    """
    text = json.dumps(network_to_dict(bn), indent=1, allow_nan=False).encode("utf-8")
    _write_bytes(path, text)


def load_spec(path) -> BifNetwork:
    """Read a network file written by :func:`save` (plain or gzip JSON) into its plain
    specification; :func:`emfast.load` builds the network from it."""
    name = _source_name(path)
    text = _read_text(path)
    try:
        d = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ValueError(f"{name} is not an emfast network file: its JSON is nested too "
                         "deeply.") from None
    except _DuplicateKey as exc:
        raise ValueError(f"{name} is not a valid emfast network file: the JSON object key "
                         f"{exc.args[0]!r} appears twice.") from None
    return network_from_dict(d, source=name)


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


# ---------------------------------------------------------------------------
# CSV of state labels (the `emfast fit` / `emfast impute` data format)
# ---------------------------------------------------------------------------

def _check_sep(sep) -> str:
    if not isinstance(sep, str):
        raise TypeError(f"sep must be a one-character string; got {type(sep).__name__}.")
    if sep == "\\t":
        sep = "\t"
    if len(sep) != 1 or sep in '"\r\n' or sep.isalnum():
        raise ValueError(f"sep must be one character other than a letter, a digit, '\"' or a "
                         f"line break; got {sep!r}.")
    return sep


def _open_text(path, name: str):
    """Open a CSV for reading as text: gunzipped when the file starts with the gzip magic
    bytes (whatever its suffix), UTF-8 with an optional BOM."""
    raw = open(os.fspath(path), "rb")
    try:
        magic = raw.read(2)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw
        return _io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), raw
    except BaseException:
        raw.close()
        raise


def read_csv_states(path, bn, *, missing=("",), sep=","):
    """Read a CSV of state labels into int32 codes for the network ``bn``.

    The header names the columns; every column must be a variable of ``bn``
    (variables without a column are hidden). Cells hold state labels as in
    ``bn.states``; an empty cell (after stripping spaces) is missing. Uses
    the ``csv`` module only (no pandas needed). A gzip-compressed file is
    recognised by its content (``data.csv.gz``, or any name).

    Parameters
    ----------
    path : str or path-like
    bn : BayesianNetwork
    missing : tuple of str, default=("",)
        Cell values that mean "missing".
    sep : str, default=","
        The field delimiter (one character; ``"\\t"`` is read as a tab).

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
        repeated column, a row of the wrong length or an unknown label; naming
        the file for text that is not UTF-8, a truncated or corrupt gzip
        stream, a CSV syntax error, or more rows than the memory budget allows.
    OSError
        The file cannot be opened (``FileNotFoundError``, ``IsADirectoryError``, ...).
    """
    import array
    import csv

    sep = _check_sep(sep)
    name = _source_name(path)
    states = bn.states
    fh, raw = _open_text(path, name)
    line = 1
    try:
        with fh:
            reader = csv.reader(fh, delimiter=sep)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise ValueError(f"{name} is empty: a CSV with a header line naming the "
                                 "variables is expected.") from None
            unknown = [h for h in header if h not in states]
            if unknown:
                hint = ""
                if len(header) == 1 and sep not in header[0]:
                    others = [c for c in ",;\t|" if c != sep and c in header[0]]
                    if others:
                        hint = f" (is the separator {others[0]!r}? pass --sep / sep=)"
                raise ValueError(f"{name}: column(s) {_short(unknown, 200)} are not variables of "
                                 f"the network{hint}; its variables are {_short(list(states), 200)}.")
            dup = sorted({h for h in header if header.count(h) > 1})
            if dup:
                raise ValueError(f"{name}: column(s) {dup!r} appear more than once in the header.")
            maps = [{s: i for i, s in enumerate(states[h])} for h in header]
            for m in maps:
                for s in missing:
                    m[s] = -1
            ncol = len(header)
            cells = array.array("i")
            n_rows = 0
            for r in reader:
                line = reader.line_num
                if not r or (len(r) == 1 and not r[0].strip() and ncol != 1):
                    continue  # blank line
                if len(r) != ncol:
                    raise ValueError(f"{name}, line {line}: {len(r)} cells, but the header has "
                                     f"{ncol} columns.")
                for j, cell in enumerate(r):
                    code = maps[j].get(cell)
                    if code is None:
                        code = maps[j].get(cell.strip())
                        if code is None:
                            raise ValueError(
                                f"{name}, line {line}, column {header[j]!r}: {_short(cell)} is "
                                f"not a state of {header[j]!r}; its states are "
                                f"{_short(states[header[j]], 200)} (leave the cell empty for a "
                                "missing value).")
                    cells.append(code)
                n_rows += 1
                if n_rows & 0xFFFF == 0:
                    check_memory(4 * len(cells), f"reading {name} ({n_rows:,} rows so far)")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}, after line {line}: not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start} of a block).") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{name} is not a valid gzip file (truncated or corrupt): "
                         f"{exc or type(exc).__name__}.") from None
    except csv.Error as exc:
        raise ValueError(f"{name}, line {line}: not a valid CSV line: {exc}.") from None
    finally:
        raw.close()
    codes = np.frombuffer(cells, dtype=np.int32).reshape(n_rows, ncol).copy() if ncol else \
        np.zeros((n_rows, 0), np.int32)
    return codes, header


def write_csv_states(path, codes, columns, bn, *, sep=",") -> None:
    """Write int codes as a CSV of state labels (``-1`` becomes an empty cell);
    gzip-compressed when ``path`` ends in ``.gz``."""
    import csv

    sep = _check_sep(sep)
    codes = np.asarray(codes)
    states = bn.states
    labels = [np.asarray(list(states[c]) + [""], dtype=object) for c in columns]
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n", delimiter=sep)
        w.writerow(columns)
        cols = [lab[np.where(codes[:, j] < 0, len(lab) - 1, codes[:, j])]
                for j, lab in enumerate(labels)]
        w.writerows(zip(*cols) if cols else [])
