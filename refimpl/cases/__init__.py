"""Golden cases: reference outputs of single functions, for checking another implementation piece by piece.

Each case is one call of one refimpl function on small, fixed inputs: the inputs, the expected
outputs, the tolerances, the equation it exercises and the refimpl function that produced it, in a
language-neutral JSON file. Random draws (mutation noise, crossover masks, parent indices, the
acceptance draws of Algorithm 1) are *inputs* of the cases, so nobody needs our random streams —
except the ``genome_theta`` cases of ch. 6, whose subject is NumPy's stream itself (genomes stored as seeds).

================  ==================================================================================
module            cases of
================  ==================================================================================
``core``          thesis ch. 2 building blocks: dense, conv2d, pooling, batch norm, activations,
                  losses, one step of SGD / Adam / AdamW / Adamax (``refimpl.nn``, ``refimpl.optim``)
``interval``      Afghan & Naumann: the Sec. 2.3 example, interval sweeps and Eq. 1 significances
``surgery``       Schiessler et al.: the modifications (Eqs. 3–12), Eq. 13, the ranking, Eq. 16
``accountability`` Pan et al.: the shift of Algorithm 1 (lines 7–8) and its walk (lines 6–20)
``thesis_ch3``    ch. 3 (document ``thesis``): grouped convolution, the SE module, one SE-ResNeXt
                  bottleneck, the TTA average, the C-NMC metrics
``thesis``        Prellberg ch. 4–5: every operator and one generation of Algorithm 2;
``thesis_ch6``    ch. 6 (document ``thesis``): the Atari network, its unit-norm initialisation,
                  a mutation replay and seed-list genomes
``thesis_ch7``    ch. 7: the NAS mutations with weight inheritance (Eqs. 7.3–7.6)
``thesis_ch8``    ch. 8: rank utilities, one NES update, one routed forward pass
``extremal``      Patel & Rummel: the losses (Eqs. 2.3, 2.5–2.8), gradient steps (Eq. 2.4), the MILP
================  ==================================================================================

:func:`export_cases` writes them (``cases/`` of the repository holds the committed set);
:func:`check_cases` runs a user's *adapter* — a Python module with one function per case kind,
named like the kind — on every case and reports pass/fail per case. The file format, the kinds,
the comparison rules and a worked adapter are documented in ``cases/README.md``.

This package sits above the document packages (it imports them; they never import it).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import math
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from ..atomic import write_atomic

__all__ = ["FORMAT", "DOCUMENTS", "Kind", "Enclosure", "Result", "make_case", "all_cases", "kinds",
           "encode", "decode", "dumps", "network", "unpack", "kinds_markdown", "export_cases", "load_cases", "load_adapter", "compare",
           "check_case", "check_cases"]

FORMAT = "refimpl-case/1"
#: the documents, in the order of the index (``core`` = the shared building blocks)
DOCUMENTS = ("core", "interval", "surgery", "accountability", "thesis", "extremal")
REGENERATE = "python -c \"from pathlib import Path; from refimpl.cases import export_cases; export_cases(Path('cases'))\""
DEFAULT_TOLERANCE = {"rtol": 1e-10, "atol": 1e-12}
#: slack with which an adapter's enclosure must contain the float64 sample values (their own rounding)
DEFAULT_CONTAIN_ATOL = 1e-12


@dataclasses.dataclass(frozen=True)
class Kind:
    """A case kind: the adapter function's signature, what it computes, and optionally ``derive``,
    which maps the adapter's raw result (and the case inputs) to the compared outputs — used where
    the raw result is defined only up to an arbitrary choice (e.g. the signs of SVD vectors)."""
    signature: str
    doc: str
    derive: Callable[[Any, dict], Any] | None = None


@dataclasses.dataclass(frozen=True)
class Enclosure:
    """An expected interval output: bounds ``lo``, ``hi`` and ``contains``, true values (float64
    point evaluations at points of the input box) that every sound enclosure must contain."""
    lo: Any
    hi: Any
    contains: Any = None


# --------------------------------------------------------------------------------------------
# The JSON encoding: arrays, intervals, non-finite numbers; stable formatting
# --------------------------------------------------------------------------------------------

def _num(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def encode(value):
    """A JSON-ready form of ``value``: ndarrays -> ``{"dtype", "shape", "data"}`` (nested lists,
    non-finite floats as the strings "nan", "inf", "-inf"), :class:`Enclosure` and ``(lo, hi)``
    tagged as ``{"lo", "hi"[, "contains"]}``; dicts, lists, numbers, strings, None as they are."""
    if isinstance(value, Enclosure):
        out = {"lo": encode(value.lo), "hi": encode(value.hi)}
        if value.contains is not None:
            out["contains"] = encode(np.asarray(value.contains, dtype=np.float64))
        return out
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return encode(value[()])
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        dtype = {"f": "float64" if value.dtype == np.float64 else str(value.dtype), "b": "bool"}.get(kind)
        if kind in "iu":
            dtype = "int64"
        if dtype is None:
            raise TypeError(f"cannot encode an array of dtype {value.dtype}")
        data = np.vectorize(_num, otypes=[object])(value).tolist() if value.size else value.tolist()
        return {"dtype": dtype, "shape": list(value.shape), "data": data}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, (np.generic, int, float)) and not isinstance(value, (bool, np.bool_)):
        return _num(value)
    if value is None or isinstance(value, (str, bool, np.bool_)):
        return bool(value) if isinstance(value, np.bool_) else value
    raise TypeError(f"cannot encode {type(value).__name__}")


def _float(v):
    return float(v) if not isinstance(v, str) else {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v]


def _floats(data):
    return [_floats(v) for v in data] if isinstance(data, list) else _float(data)


def decode(value, *, expected: bool = False):
    """Inverse of :func:`encode`: arrays become ndarrays; ``{"lo", "hi"}`` becomes a tuple
    ``(lo, hi)`` (inputs) or an :class:`Enclosure` (``expected=True``)."""
    if isinstance(value, dict):
        if set(value) == {"dtype", "shape", "data"}:
            dt = np.dtype(value["dtype"])
            data = _floats(value["data"]) if dt.kind == "f" else value["data"]
            return np.asarray(data, dtype=dt).reshape(value["shape"])
        if set(value) in ({"lo", "hi"}, {"lo", "hi", "contains"}):
            lo, hi = decode(value["lo"]), decode(value["hi"])
            if expected:
                return Enclosure(lo, hi, decode(value["contains"]) if "contains" in value else None)
            return (lo, hi)
        return {k: decode(v, expected=expected) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, expected=expected) for v in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return _float(value)
    return value


def _is_flat(v) -> bool:
    return isinstance(v, list) and all(not isinstance(x, (list, dict)) for x in v)


def dumps(obj, indent: int = 0) -> str:
    """Stable, readable JSON: floats as Python's shortest round-trip repr, innermost lists on one
    line, dict keys in insertion order. Equal data gives byte-identical text."""
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        if all(not isinstance(v, dict) and (not isinstance(v, list) or _is_flat(v)) for v in obj.values()):
            line = "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {dumps(v)}" for k, v in obj.items()) + "}"
            if len(line) + len(pad) <= 110:
                return line
        items = [f"{pad}  {json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if _is_flat(obj):
            return "[" + ", ".join(dumps(v) for v in obj) + "]"
        return "[\n" + ",\n".join(f"{pad}  {dumps(v, indent + 1)}" for v in obj) + "\n" + pad + "]"
    if isinstance(obj, float):
        return repr(obj)
    return json.dumps(obj, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Building and exporting cases
# --------------------------------------------------------------------------------------------

def make_case(name: str, kind: str, equation: str, produced_by: str, inputs: dict, expected: dict, *,
              description: str = "", rtol: float | None = None, atol: float | None = None,
              tolerances: dict | None = None, contain_atol: float | None = None, reference: dict | None = None) -> dict:
    """One case as a dict (the document is filled in by :func:`all_cases`). ``tolerances`` maps an
    output name to its own ``{"rtol", "atol"}``; ``reference`` holds values that are informative
    but not compared (e.g. the paper's printed numbers, or weights defined only up to sign)."""
    tol = {"rtol": DEFAULT_TOLERANCE["rtol"] if rtol is None else rtol,
           "atol": DEFAULT_TOLERANCE["atol"] if atol is None else atol}
    if contain_atol is not None:
        tol["contain_atol"] = contain_atol
    case = {"format": FORMAT, "name": name, "document": None, "kind": kind, "equation": equation,
            "produced_by": produced_by, "description": description, "inputs": inputs,
            "expected": expected, "tolerance": tol}
    if tolerances:
        case["tolerances"] = tolerances
    if reference:
        case["reference"] = reference
    return case


def network(weights, biases, activations):
    """A Dense-only :class:`~refimpl.model.Sequential` and its params from per-layer lists (the
    form in which cases pass networks: ``W (in, out)``, ``b (out,)``, activation names; population
    weights ``(P, in, out)`` too)."""
    from ..model import Dense, Sequential  # noqa: PLC0415
    weights = [np.asarray(W, dtype=np.float64) for W in weights]
    layers = tuple(Dense(int(W.shape[-1]), act) for W, act in zip(weights, activations))
    params = [{"W": W, "b": np.asarray(b, dtype=np.float64)} for W, b in zip(weights, biases)]
    return Sequential((int(weights[0].shape[-2]),), layers), params


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) or (isinstance(v, list) and all(_numeric(x) for x in v))


def arrays(tree):
    """A params/state pytree of JSON values (dicts and lists) with its leaves — nested lists of
    numbers — as float64 arrays; the form in which cases pass whole parameter trees."""
    if isinstance(tree, dict):
        return {k: arrays(v) for k, v in tree.items()}
    return np.asarray(tree, dtype=np.float64) if _numeric(tree) else [arrays(v) for v in tree]


def unpack(model, params) -> dict:
    """``{"weights", "biases", "activations"}`` of a Dense-only network (a missing bias as zeros)."""
    from ..model import Dense  # noqa: PLC0415
    dense = [(layer, p) for layer, p in zip(model.layers, params) if isinstance(layer, Dense)]
    return {"weights": [np.asarray(p["W"], dtype=np.float64) for _, p in dense],
            "biases": [np.asarray(p["b"], dtype=np.float64) if "b" in p else np.zeros(layer.units)
                       for layer, p in dense],
            "activations": [layer.activation for layer, _ in dense]}


def _modules() -> dict[str, tuple]:
    """The case modules of every document, in order (a document may have several)."""
    from . import (accountability, core, extremal, interval, surgery, thesis, thesis_ch3,  # noqa: PLC0415
                   thesis_ch6, thesis_ch7, thesis_ch8)
    return {"core": (core,), "interval": (interval,), "surgery": (surgery,), "accountability": (accountability,),
            "thesis": (thesis_ch3, thesis, thesis_ch6, thesis_ch7, thesis_ch8), "extremal": (extremal,)}


def _document_kinds() -> dict[str, dict[str, Kind]]:
    return {doc: {k: s for mod in mods for k, s in mod.KINDS.items()} for doc, mods in _modules().items()}


def kinds() -> dict[str, Kind]:
    """Every case kind of every document (kind names are unique across documents)."""
    out: dict[str, Kind] = {}
    for mods in _modules().values():
        for mod in mods:
            for k, spec in mod.KINDS.items():
                if k in out:
                    raise RuntimeError(f"case kind {k!r} defined twice")
                out[k] = spec
    return out


def all_cases() -> list[dict]:
    """Generate every case (deterministic: fixed seeds), document by document, module by module."""
    cases, names = [], set()
    for doc, mods in _modules().items():
        for mod, case in ((m, c) for m in mods for c in m.cases()):
            if case["kind"] not in mod.KINDS:
                raise RuntimeError(f"case {case['name']!r} has kind {case['kind']!r}, not in {mod.__name__}.KINDS")
            if case["name"] in names:
                raise RuntimeError(f"duplicate case name {case['name']!r}")
            names.add(case["name"])
            case["document"] = doc
            cases.append(case)
    return cases


def export_cases(directory: Path) -> list[Path]:
    """Write every case to ``directory/<document>/<name>.json`` and the list of cases and kinds to
    ``directory/index.json``; stale ``.json`` files in the document folders are removed. If
    ``directory/README.md`` exists, its kinds section (from the heading "## Kinds" to the end) is
    rewritten when it changed. Returns the paths written (the index first). Files are byte-identical
    for equal results."""
    directory = Path(directory)
    cases, spec = all_cases(), kinds()
    written, index = [], []
    for case in cases:
        path = directory / case["document"] / f"{case['name']}.json"
        index.append({"name": case["name"], "document": case["document"], "kind": case["kind"],
                      "equation": case["equation"], "file": f"{case['document']}/{case['name']}.json"})
        written.append(write_atomic(path, dumps(encode(case)) + "\n"))
    for doc in DOCUMENTS:
        keep = {p for p in written if p.parent == directory / doc}
        for stale in sorted((directory / doc).glob("*.json")):
            if stale not in keep:
                stale.unlink()
    doc_of = {k: d for d, ks in _document_kinds().items() for k in ks}
    head = {"format": FORMAT, "generated_by": "refimpl.cases.export_cases", "regenerate": REGENERATE,
            "documents": list(DOCUMENTS),
            "kinds": {k: {"document": doc_of[k], "signature": s.signature, "doc": s.doc} for k, s in spec.items()},
            "cases": index}
    written.insert(0, write_atomic(directory / "index.json", dumps(head) + "\n"))
    readme = directory / "README.md"
    if readme.exists():        # refresh its kinds section (everything from the heading on)
        text = readme.read_text()
        start = text.find("\n" + KINDS_HEADING + "\n")
        if start >= 0 and text[start + 1:] != kinds_markdown():
            written.append(write_atomic(readme, text[:start + 1] + kinds_markdown()))
    return written


KINDS_HEADING = "## Kinds"


def kinds_markdown() -> str:
    """The kinds section of ``cases/README.md`` (one table per document), as :func:`export_cases` writes it."""
    out = [KINDS_HEADING, "", "Generated by `export_cases` from the kinds' definitions (`index.json` holds the same "
           "text). The signature is the adapter function's."]
    for doc, ks in _document_kinds().items():
        out += ["", f"### {doc}", "", "| kind | adapter function | computes |", "|---|---|---|"]
        out += [f"| `{k}` | `{s.signature}` | {s.doc.replace('|', ' or ')} |" for k, s in ks.items()]
    return "\n".join(out) + "\n"


def _read_case_file(path: Path) -> dict:
    """The JSON object in ``path``; FileNotFoundError or ValueError naming the file otherwise."""
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist (write the cases with: refimpl cases export "
                                f"{path.parent if path.name == 'index.json' else 'DIR'})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a JSON {type(obj).__name__}, not an object")
    return obj


def load_cases(directory: Path) -> list[dict]:
    """The cases listed in ``directory/index.json``, decoded (inputs: arrays and ``(lo, hi)``
    tuples; expected: arrays and :class:`Enclosure`). Raises ``FileNotFoundError`` when the index
    or a case file it lists is absent, ``ValueError`` (naming the file) when one is not valid JSON
    or not a case file."""
    directory = Path(directory)
    index_path = directory / "index.json"
    index = _read_case_file(index_path)
    entries = index.get("cases")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                                for e in entries):
        raise ValueError(f"{index_path} is not a cases index (expected 'cases': a list of {{'file': ...}})")
    out = []
    for entry in entries:
        path = directory / entry["file"]
        raw = _read_case_file(path)
        if raw.get("format") != FORMAT:
            raise ValueError(f"{path}: format {raw.get('format')!r}, expected {FORMAT!r}")
        try:
            raw["inputs"] = decode(raw["inputs"])
            raw["expected"] = decode(raw["expected"], expected=True)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path} is not a valid case: {type(e).__name__}: {e}") from None
        out.append(raw)
    return out


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    """One compared output: ``path`` (e.g. ``weights[1]``), ``ok``, the largest absolute and
    relative errors, and a note (what failed, or the criterion used)."""
    path: str
    ok: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    note: str = ""


def _errors(a, e):
    finite = np.isfinite(e) & np.isfinite(a)
    d = np.abs(a - e)[finite] if a.size else np.zeros(0)
    mag = np.abs(e)[finite]
    rel = d[mag > 0] / mag[mag > 0] if d.size else np.zeros(0)
    return (float(d.max()) if d.size else 0.0), (float(rel.max()) if rel.size else 0.0)


def _as_array(x):
    if hasattr(x, "detach"):     # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _compare_enclosure(path, actual, exp: Enclosure, tol) -> list[Result]:
    if hasattr(actual, "lo") and hasattr(actual, "hi"):
        actual = (actual.lo, actual.hi)
    if not (isinstance(actual, Sequence) and len(actual) == 2):
        return [Result(path, False, note=f"expected an enclosure (lo, hi), got {type(actual).__name__}")]
    lo, hi = (np.asarray(_as_array(v), dtype=np.float64) for v in actual)
    elo, ehi = np.asarray(exp.lo, dtype=np.float64), np.asarray(exp.hi, dtype=np.float64)
    if lo.shape != elo.shape or hi.shape != ehi.shape:
        return [Result(path, False, note=f"shape {lo.shape}/{hi.shape}, expected {elo.shape}")]
    if np.any(lo > hi):
        return [Result(path, False, note="lo > hi")]
    notes, ok = [], True
    if exp.contains is not None:
        c = tol.get("contain_atol", DEFAULT_CONTAIN_ATOL)
        s = np.asarray(exp.contains, dtype=np.float64)
        outside = np.maximum(lo - c - s, s - hi - c)
        if np.any(outside > 0):
            ok = False
            notes.append(f"unsound: a true value lies {float(outside.max()) + c:.3g} outside the enclosure")
    r, a = tol["rtol"], tol["atol"]
    agree = np.all(np.abs(lo - elo) <= a + r * np.abs(elo)) and np.all(np.abs(hi - ehi) <= a + r * np.abs(ehi))
    if not agree:
        ok = False
        notes.append("bounds differ from the expected enclosure beyond tolerance")
    m1, r1 = _errors(lo, elo)
    m2, r2 = _errors(hi, ehi)
    return [Result(path, ok, max(m1, m2), max(r1, r2), "; ".join(notes) or "enclosure: sound and agrees")]


def compare(actual, expected, tol: dict, path: str = "") -> list[Result]:
    """Compare an adapter's output with an expected value (recursively), see ``cases/README.md``:

    * :class:`Enclosure`: the actual ``(lo, hi)`` must contain every ``contains`` value (within
      ``contain_atol``) *and* both bounds must agree with ours within ``atol + rtol·|bound|``;
    * floats / float arrays: same shape, NaN where NaN, ``|a − e| ≤ atol + rtol·|e|``;
    * ints, int and bool arrays, strings, booleans, None: exactly equal;
    * dicts: every expected key (extra keys are ignored); lists: same length, element by element.
    """
    if isinstance(expected, Enclosure):
        return _compare_enclosure(path, actual, expected, tol)
    if isinstance(expected, dict):
        if not isinstance(actual, Mapping):
            return [Result(path, False, note=f"expected a mapping with keys {list(expected)}, got {type(actual).__name__}")]
        out = []
        for k, v in expected.items():
            p = f"{path}.{k}" if path else k
            out += compare(actual[k], v, tol, p) if k in actual else [Result(p, False, note="missing")]
        return out
    if isinstance(expected, list):
        if isinstance(actual, np.ndarray) or hasattr(actual, "detach"):
            actual = list(actual)
        if not isinstance(actual, Sequence) or isinstance(actual, str) or len(actual) != len(expected):
            n = len(actual) if isinstance(actual, Sequence) else type(actual).__name__
            return [Result(path, False, note=f"expected a list of {len(expected)}, got {n}")]
        return [r for i, (a, e) in enumerate(zip(actual, expected)) for r in compare(a, e, tol, f"{path}[{i}]")]
    if expected is None or isinstance(expected, (str, bool)):
        ok = (actual is None) if expected is None else (actual == expected)
        return [Result(path, bool(ok), note="" if ok else f"got {actual!r}, expected {expected!r}")]
    e = np.asarray(expected)
    try:
        a = _as_array(actual)
    except Exception as exc:  # noqa: BLE001
        return [Result(path, False, note=f"not an array: {exc}")]
    if a.shape != e.shape:
        if a.size == e.size == 1:
            a = a.reshape(e.shape)
        else:
            return [Result(path, False, note=f"shape {a.shape}, expected {e.shape}")]
    if e.dtype.kind in "biu":
        ok = a.dtype.kind in "biuf" and np.array_equal(a.astype(np.float64), e.astype(np.float64))
        return [Result(path, bool(ok), note="" if ok else f"got {a.tolist()}, expected {e.tolist()} (exact)")]
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        return [Result(path, False, note=f"expected numbers, got {actual!r:.60}")]
    e = e.astype(np.float64)
    same_nonfinite = np.array_equal(np.isnan(a), np.isnan(e)) and np.array_equal(a[np.isinf(e)], e[np.isinf(e)]) \
        and not np.any(np.isinf(a) & ~np.isinf(e))
    fin = np.isfinite(e)
    ok = same_nonfinite and bool(np.all(np.abs(a[fin] - e[fin]) <= tol["atol"] + tol["rtol"] * np.abs(e[fin])))
    m, r = _errors(a, e)
    note = "" if ok else ("NaN/inf differ" if not same_nonfinite else "beyond tolerance")
    if not ok and same_nonfinite and e.ndim:
        excess = np.where(fin, np.abs(a - e) - tol["atol"] - tol["rtol"] * np.abs(e), -np.inf)
        i = np.unravel_index(int(np.argmax(excess)), e.shape)
        note += f", worst at index {tuple(int(k) for k in i)}: got {a[i]:.6g}, expected {e[i]:.6g}"
    return [Result(path, ok, m, r, note)]


# --------------------------------------------------------------------------------------------
# Running an adapter
# --------------------------------------------------------------------------------------------

def load_adapter(adapter: str):
    """Import the adapter: a module name (``mypkg.refimpl_adapter``) or a path to a ``.py`` file
    (its folder is on ``sys.path`` while it is imported, so it may import modules beside it).
    Raises ``FileNotFoundError`` when the file does not exist, ``ImportError`` (naming the adapter
    and the original error) when it cannot be imported."""
    if adapter.endswith(".py") or "/" in adapter or "\\" in adapter:
        path = Path(adapter)
        if not path.is_file():
            raise FileNotFoundError(f"adapter file {path} does not exist")
        spec = importlib.util.spec_from_file_location(f"refimpl_case_adapter_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))   # so that it can import its sibling modules
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001  (whatever the adapter's import raised)
            raise ImportError(f"cannot import the adapter {path}: {type(e).__name__}: {e}") from e
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    try:
        return importlib.import_module(adapter)
    except Exception as e:  # noqa: BLE001
        raise ImportError(f"cannot import the adapter module {adapter!r}: {type(e).__name__}: {e} "
                          "(give an importable module name or a path to a .py file)") from e


def _tol_for(case, key):
    tol = dict(case["tolerance"])
    tol.update(case.get("tolerances", {}).get(key, {}))
    return tol


def check_case(case: dict, function: Callable, kind: Kind | None = None) -> list[Result]:
    """Run ``function(**case["inputs"])`` and compare with ``case["expected"]`` (through the
    kind's ``derive`` if it has one). A bare (non-mapping) result counts as the only output when
    the case expects exactly one. Exceptions propagate."""
    actual = function(**case["inputs"])
    expected = case["expected"]
    if kind is not None and kind.derive is not None:
        actual = kind.derive(actual, case["inputs"])
    if not isinstance(actual, Mapping) and len(expected) == 1:
        actual = {next(iter(expected)): actual}
    if not isinstance(actual, Mapping):
        return [Result("", False, note=f"expected a mapping with keys {list(expected)}, got {type(actual).__name__}")]
    out = []
    for key, value in expected.items():
        out += compare(actual[key], value, _tol_for(case, key), key) if key in actual else \
            [Result(key, False, note="missing from the adapter's result")]
    return out


def check_cases(directory: Path, adapter: str, *, out: TextIO = sys.stdout) -> int:
    """Check an adapter against every case in ``directory``; print one line per case and a summary.

    ``adapter``: a module name or a ``.py`` path (:func:`load_adapter`), or a module object. For each case, the
    adapter's function named like the case's kind is called with the case's inputs as keyword
    arguments; a kind the adapter lacks is reported ``SKIP``; an exception counts as a failure.
    Returns the number of failed cases (0 = everything the adapter implements agrees). Raises what
    :func:`load_adapter` and :func:`load_cases` raise (before any case is run).
    """
    module = load_adapter(os.fspath(adapter)) if isinstance(adapter, (str, os.PathLike)) else adapter
    spec = kinds()
    n_pass = n_fail = n_skip = 0
    for case in load_cases(directory):
        label = f"{case['document']}/{case['name']}"
        head = f"{label} [{case['kind']}; {case['equation']}]"
        function = getattr(module, case["kind"], None)
        if function is None:
            n_skip += 1
            print(f"SKIP  {head}: the adapter has no function {case['kind']!r}", file=out)
            continue
        try:
            results = check_case(case, function, spec.get(case["kind"]))
        except Exception as exc:  # noqa: BLE001  (any adapter error is this case's failure)
            n_fail += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"FAIL  {head}: the adapter raised {type(exc).__name__}: {exc} "
                  f"({Path(where.filename).name}:{where.lineno})", file=out)
            continue
        bad = [r for r in results if not r.ok]
        worst_abs = max((r.max_abs for r in results), default=0.0)
        worst_rel = max((r.max_rel for r in results), default=0.0)
        tol = f"rtol {case['tolerance']['rtol']:g}, atol {case['tolerance']['atol']:g}"
        if case.get("tolerances"):
            tol += "; " + ", ".join(f"{k}: " + ", ".join(f"{n} {v:g}" for n, v in t.items())
                                    for k, t in case["tolerances"].items())
        if bad:
            n_fail += 1
            detail = "; ".join(f"{r.path or 'output'}: {r.note} (max abs err {r.max_abs:.3g}, max rel err "
                               f"{r.max_rel:.3g}; rtol {_tol_for(case, r.path.split('.')[0].split('[')[0])['rtol']:g}, "
                               f"atol {_tol_for(case, r.path.split('.')[0].split('[')[0])['atol']:g})" for r in bad[:4])
            more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
            print(f"FAIL  {head}: {detail}{more}", file=out)
        else:
            n_pass += 1
            print(f"PASS  {head}: max abs err {worst_abs:.3g}, max rel err {worst_rel:.3g} ({tol})", file=out)
    print(f"summary: {n_pass} passed, {n_fail} failed, {n_skip} skipped of {n_pass + n_fail + n_skip} cases "
          f"(adapter {getattr(module, '__name__', module)})", file=out)
    return n_fail
