"""One schema for every chapter's ``results.json``, atomic writing, and comparison.

A results file is a JSON object with these keys (``SCHEMA``; the JSON Schema is
``refimpl/schema/results.schema.json``, :func:`validate` checks a dict against it):

=================  =====================================================================
``schema``         ``"refimpl-results/1"``
``document``       short name of the document (``interval``, ``surgery``, ``accountability``,
                   ``thesis``, ``extremal``)
``experiment``     what was run, e.g. ``"ch5 EA vs Adam"``
``scale``          ``"quick"`` or ``"paper"``
``config``         every setting needed to rerun it (JSON values)
``seeds``          the seeds used (list of non-negative ints)
``metrics``        measured scalars / arrays (JSON values)
``tables``         reproduced tables: ``{name: {"columns": [...], "rows": [[...], ...]}}`` (see :func:`table`)
``paper``          the document's reported values, keyed like ``metrics``/``tables`` where possible
``notes``          list of plain-text remarks (deviations, what did not reproduce)
``versions``       Python and package versions
``elapsed_seconds``  wall-clock duration of the run
``created``        UTC timestamp
=================  =====================================================================

and, optionally, how the results are to be compared (``refimpl verify``, :mod:`refimpl.verify`):

=================  =====================================================================
``tolerances``     ``{path pattern: {"rtol": r, "atol": a, "why": "..."}}`` for config/metrics
                   entries; the longest matching pattern wins (tables carry their own)
``free_text``      path patterns of metrics that are prose (compared only on request, as notes)
``datasets``       ``{"used": [names], "absent": {name: why}, "entries": {path pattern: name(s)}}``:
                   an entry whose data set was absent in one run is "not comparable", not a difference
=================  =====================================================================

A path names an entry by its keys joined with ``/`` (``metrics/datasets/digits/curves``); a
pattern matches a path when its segments match the path's first segments (``*`` and other
:mod:`fnmatch` wildcards match within one segment).

NaN and infinity are rejected when writing (``ValueError`` naming the entry): a reference
output never carries a silent NaN; record a failure as ``None`` plus a note instead.
Wall-clock durations are machine-dependent: by convention they are stored under keys and
table columns whose names contain ``"seconds"``; ``verify`` skips them unless asked.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_atomic

__all__ = ["SCHEMA", "DOCUMENTS", "Difference", "make_results", "write_results", "read_results",
           "write_atomic", "package_versions", "table", "compare", "to_jsonable",
           "tolerance", "EXACT", "DETERMINISTIC", "DEFAULT_TOLERANCE", "trained", "over_seeds",
           "schema_path", "validate", "SchemaError"]

SCHEMA = "refimpl-results/1"
DOCUMENTS = ("interval", "surgery", "accountability", "thesis", "extremal")
_REQUIRED = ("schema", "document", "experiment", "scale", "config", "seeds", "metrics", "tables",
             "paper", "notes", "versions", "elapsed_seconds", "created")
_VOLATILE = ("versions", "elapsed_seconds", "created")


# ---- tolerances -------------------------------------------------------------------------------

def tolerance(rtol: float, atol: float, why: str = "") -> dict:
    """A tolerance entry: numbers ``r`` (reference) and ``c`` agree when ``|c − r| <= atol + rtol·|r|``."""
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"tolerances must be non-negative, got rtol={rtol}, atol={atol}")
    t = {"rtol": float(rtol), "atol": float(atol)}
    if why:
        t["why"] = why
    return t


#: closed-form float64 arithmetic on fixed inputs (e.g. an equation evaluated on the paper's numbers)
EXACT = tolerance(1e-9, 1e-12, "exact arithmetic: float64 on fixed inputs")
#: deterministic float64 computations whose summation order may differ between BLAS builds
DETERMINISTIC = tolerance(1e-6, 1e-9, "deterministic float64 arithmetic; summation order may differ")
#: what verify uses for an entry the reference gives no tolerance for
DEFAULT_TOLERANCE = tolerance(1e-5, 1e-8, "default (the reference sets no tolerance for this entry)")


def trained(atol: float = 0.02, rtol: float = 0.0, what: str = "") -> dict:
    """Values after float32 training with the same seeds: identical on the same machine and BLAS;
    elsewhere rounding differences grow over training (``atol`` in the value's own unit)."""
    return tolerance(rtol, atol, "float32 training: rounding differences between machines grow over training"
                     + (f" ({what})" if what else ""))


def over_seeds(atol: float, rtol: float = 0.0, what: str = "") -> dict:
    """Statistics over a few seeds or repetitions (means, medians, gains, test p-values): one
    seed's trained result moving shifts them by up to ``atol``."""
    return tolerance(rtol, atol, "statistic over few seeds/repetitions of float32 training"
                     + (f" ({what})" if what else ""))


# ---- the JSON Schema --------------------------------------------------------------------------

class SchemaError(ValueError):
    """A results dict does not follow ``results.schema.json``; ``errors`` lists every violation."""

    def __init__(self, errors: list[str], where: str = "results"):
        self.errors = list(errors)
        super().__init__(f"{where} does not follow the results schema: " + "; ".join(self.errors[:5])
                         + (f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""))


def schema_path() -> Path:
    """The JSON Schema of results.json, shipped with the package."""
    return Path(__file__).resolve().parent / "schema" / "results.schema.json"


_SCHEMA_CACHE: list = []


def validate(results: dict, where: str = "results") -> None:
    """Check ``results`` against the JSON Schema and the table invariants JSON Schema cannot
    express (row lengths, key columns, per-row data-set lists); ``SchemaError`` lists every problem."""
    import jsonschema  # noqa: PLC0415  (import cost only where validation is used)

    if not _SCHEMA_CACHE:
        _SCHEMA_CACHE.append(jsonschema.Draft202012Validator(json.loads(schema_path().read_text())))
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
              for e in sorted(_SCHEMA_CACHE[0].iter_errors(results), key=lambda e: list(map(str, e.absolute_path)))]
    for name, t in (results.get("tables") or {}).items() if isinstance(results, dict) else ():
        if not (isinstance(t, dict) and isinstance(t.get("columns"), list) and isinstance(t.get("rows"), list)):
            continue
        n = len(t["columns"])
        errors += [f"tables/{name}/rows/{i}: {len(r)} cells, expected {n}"
                   for i, r in enumerate(t["rows"]) if isinstance(r, list) and len(r) != n]
        errors += [f"tables/{name}/key: {k!r} is not a column" for k in t.get("key") or () if k not in t["columns"]]
        errors += [f"tables/{name}/column_tolerances: {k!r} is not a column"
                   for k in t.get("column_tolerances") or {} if k not in t["columns"]]
        ds = t.get("dataset")
        if isinstance(ds, list) and len(ds) != len(t["rows"]):
            errors.append(f"tables/{name}/dataset: {len(ds)} entries for {len(t['rows'])} rows")
    if errors:
        raise SchemaError(errors, where)


def package_versions() -> dict[str, str]:
    """Versions of Python, refimpl and its main dependencies (``None`` where not installed)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("refimpl", "numpy", "autograd", "scipy", "scikit-learn", "matplotlib", "cupy-cuda12x"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def to_jsonable(obj: Any, path: str = "$") -> Any:
    """Convert NumPy scalars/arrays, tuples and paths to JSON values, recursively.

    Raises ``ValueError`` (naming the JSON path) for NaN/inf and ``TypeError`` for objects
    that have no JSON form.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, f"{path}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), path)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        if not math.isfinite(float(obj)):
            raise ValueError(f"non-finite value {obj} at {path}; results must not carry NaN/inf "
                             f"(store None and explain it in 'notes')")
        return float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} at {path} in results.json")


def table(columns: list[str], rows: list[list], *, key: list[str] | str | None = None,
          dataset: str | list | None = None, tolerance: dict | None = None,
          column_tolerances: dict[str, dict] | None = None) -> dict:
    """A table entry ``{"columns": [...], "rows": [...]}``; ``ValueError`` on ragged rows.

    The optional arguments say how ``refimpl verify`` compares the table with another run's:

    Args:
        key: the column(s) whose values label a row; rows are matched by label, not position
            (default: the first column; a label that repeats is told apart by its occurrence).
        dataset: the data set the table came from, or one name (or list of names, or None) per row.
        tolerance: the table's tolerance (:func:`tolerance`, :data:`EXACT`, :func:`trained`, ...).
        column_tolerances: tolerances of single columns, overriding ``tolerance``.
    """
    for r in rows:
        if len(r) != len(columns):
            raise ValueError(f"table row {r!r} has {len(r)} cells, expected {len(columns)}")
    t = {"columns": list(columns), "rows": [list(r) for r in rows]}
    if key is not None:
        key = [key] if isinstance(key, str) else list(key)
        missing = [k for k in key if k not in columns]
        if missing:
            raise ValueError(f"table key columns {missing} are not among the columns {list(columns)}")
        t["key"] = key
    if dataset is not None:
        if isinstance(dataset, (list, tuple)) and len(dataset) != len(rows):
            raise ValueError(f"table dataset list has {len(dataset)} entries for {len(rows)} rows")
        t["dataset"] = list(dataset) if isinstance(dataset, (list, tuple)) else dataset
    if tolerance is not None:
        t["tolerance"] = dict(tolerance)
    if column_tolerances:
        unknown = [c for c in column_tolerances if c not in columns]
        if unknown:
            raise ValueError(f"column_tolerances name unknown columns {unknown}")
        t["column_tolerances"] = {c: dict(v) for c, v in column_tolerances.items()}
    return t


def make_results(*, document: str, experiment: str, scale: str, config: dict, seeds: list[int],
                 metrics: dict, tables: dict | None = None, paper: dict | None = None,
                 notes: list[str] | None = None, elapsed_seconds: float,
                 tolerances: dict[str, dict] | None = None, free_text: list[str] | None = None,
                 datasets: dict | None = None) -> dict:
    """Assemble a results dict in the schema above (validated, JSON-ready).

    ``tolerances``, ``free_text`` and ``datasets`` are the optional comparison keys described
    in the module docstring (left out when None).
    Raises ``ValueError`` for an unknown document, a scale other than quick/paper, or NaN/inf.
    """
    if document not in DOCUMENTS:
        raise ValueError(f"document must be one of {DOCUMENTS}, got {document!r}")
    if scale not in ("quick", "paper"):
        raise ValueError(f"scale must be 'quick' or 'paper', got {scale!r}")
    res = {
        "schema": SCHEMA, "document": document, "experiment": experiment, "scale": scale,
        "config": config, "seeds": list(seeds), "metrics": metrics, "tables": tables or {},
        "paper": paper or {}, "notes": list(notes or []), "versions": package_versions(),
        "elapsed_seconds": float(elapsed_seconds),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if tolerances:
        res["tolerances"] = tolerances
    if free_text:
        res["free_text"] = list(free_text)
    if datasets is not None:
        res["datasets"] = datasets
    return to_jsonable(res)


def write_results(path: str | Path, results: dict) -> Path:
    """Validate ``results`` against the schema and write it atomically as indented JSON.

    Raises ``ValueError`` if a required key is missing or a value is NaN/inf, and
    :class:`SchemaError` (a ``ValueError``) if it does not follow the JSON Schema; nothing is
    written then.
    """
    missing = [k for k in _REQUIRED if k not in results]
    if missing:
        raise ValueError(f"results lack required keys {missing}; build them with make_results()")
    results = to_jsonable(results)
    validate(results, str(path))
    text = json.dumps(results, indent=2, allow_nan=False) + "\n"
    return write_atomic(path, text)


def read_results(path: str | Path) -> dict:
    """Read a results file; ``ValueError`` naming the file if it is not refimpl results JSON."""
    path = Path(path)
    try:
        res = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(res, dict) or res.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a {SCHEMA} file (schema = {res.get('schema') if isinstance(res, dict) else None!r})")
    return res


@dataclass(frozen=True)
class Difference:
    """One differing entry: JSON ``path``, the two values, and why they differ."""
    path: str
    reference: Any
    candidate: Any
    reason: str

    def __str__(self):
        return f"{self.path}: {self.reason} (reference {self.reference!r}, candidate {self.candidate!r})"


def _is_timing(name) -> bool:
    return "seconds" in str(name).lower()


def _blank_timing_columns(t: dict) -> dict:
    """A copy of a table with the cells of its timing columns set to None (indices unchanged)."""
    timing = {i for i, c in enumerate(t["columns"]) if _is_timing(c)}
    rows = [[None if i in timing else v for i, v in enumerate(r)] if isinstance(r, list) else r
            for r in t["rows"]]
    return {**t, "rows": rows}


def compare(reference: dict, candidate: dict, *, rtol: float = 1e-5, atol: float = 1e-8,
            ignore: tuple[str, ...] = _VOLATILE, timings: bool = False) -> list[Difference]:
    """Every entry where ``candidate`` differs from ``reference``, position by position.

    A plain structural diff with one tolerance for everything. To check an implementation
    against the reference use :mod:`refimpl.verify` (``refimpl verify``): it matches table
    rows by label, applies the tolerances the reference sets, skips notes, and reports entries
    of absent data sets as not comparable.

    Numbers are equal when ``|c − r| <= atol + rtol·|r|`` (booleans and strings exactly);
    missing or extra keys, type and length mismatches are reported. Top-level keys in
    ``ignore`` (by default the volatile ``versions``, ``elapsed_seconds``, ``created``) are skipped.
    Wall-clock durations are machine-dependent: by convention they are stored under keys and
    table columns whose names contain ``"seconds"``, and are skipped unless ``timings=True``.
    Returns an empty list when the results agree.
    """
    diffs: list[Difference] = []

    def walk(r, c, path):
        if not timings and isinstance(r, dict) and isinstance(c, dict) and {"columns", "rows"} <= r.keys() & c.keys():
            r, c = _blank_timing_columns(r), _blank_timing_columns(c)
        if isinstance(r, dict) and isinstance(c, dict):
            for k in r.keys() | c.keys():
                p = f"{path}.{k}"
                if (path == "$" and k in ignore) or (not timings and _is_timing(k)):
                    continue
                if k not in c:
                    diffs.append(Difference(p, r[k], None, "missing in candidate"))
                elif k not in r:
                    diffs.append(Difference(p, None, c[k], "not in reference"))
                else:
                    walk(r[k], c[k], p)
        elif isinstance(r, list) and isinstance(c, list):
            if len(r) != len(c):
                diffs.append(Difference(path, len(r), len(c), "lengths differ"))
            for i, (a, b) in enumerate(zip(r, c)):
                walk(a, b, f"{path}[{i}]")
        elif isinstance(r, bool) or isinstance(c, bool) or not (
                isinstance(r, (int, float)) and isinstance(c, (int, float))):
            if r != c or type(r) is not type(c):
                diffs.append(Difference(path, r, c, "values differ"))
        elif abs(c - r) > atol + rtol * abs(r):
            diffs.append(Difference(path, r, c, f"|difference| {abs(c - r):.3g} > atol + rtol·|reference|"))

    walk(reference, candidate, "$")
    return sorted(diffs, key=lambda d: d.path)


if __name__ == "__main__":  # pragma: no cover
    import sys
    sys.exit("python -m refimpl.results compares nothing; use: refimpl verify CANDIDATE [REFERENCE] "
             "(or python -m refimpl verify ...)")
