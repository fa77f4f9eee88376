"""One schema for every chapter's ``results.json``, atomic writing, and comparison.

A results file is a JSON object with these keys (``SCHEMA_VERSION`` = 1):

=================  =====================================================================
``schema``         ``"refimpl-results/1"``
``document``       short name of the document (``interval``, ``surgery``, ``accountability``,
                   ``thesis``, ``extremal``)
``experiment``     what was run, e.g. ``"ch5 EA vs Adam"``
``scale``          ``"quick"`` or ``"paper"``
``config``         every setting needed to rerun it (JSON values)
``seeds``          the seeds used (list of ints)
``metrics``        measured scalars / arrays (JSON values)
``tables``         reproduced tables: ``{name: {"columns": [...], "rows": [[...], ...]}}``
``paper``          the document's reported values, keyed like ``metrics``/``tables`` where possible
``notes``          list of plain-text remarks (deviations, what did not reproduce)
``versions``       Python and package versions
``elapsed_seconds``  wall-clock duration of the run
``created``        UTC timestamp
=================  =====================================================================

NaN and infinity are rejected when writing (``ValueError`` naming the entry): a reference
output never carries a silent NaN; record a failure as ``None`` plus a note instead.
:func:`compare` is the basis on which another implementation's results are checked
against ours.
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
           "write_atomic", "save_figure", "package_versions", "table", "compare", "to_jsonable"]

SCHEMA = "refimpl-results/1"
DOCUMENTS = ("interval", "surgery", "accountability", "thesis", "extremal")
_REQUIRED = ("schema", "document", "experiment", "scale", "config", "seeds", "metrics", "tables",
             "paper", "notes", "versions", "elapsed_seconds", "created")
_VOLATILE = ("versions", "elapsed_seconds", "created")


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


def table(columns: list[str], rows: list[list]) -> dict:
    """A table entry ``{"columns": [...], "rows": [...]}``; ``ValueError`` on ragged rows."""
    for r in rows:
        if len(r) != len(columns):
            raise ValueError(f"table row {r!r} has {len(r)} cells, expected {len(columns)}")
    return {"columns": list(columns), "rows": [list(r) for r in rows]}


def make_results(*, document: str, experiment: str, scale: str, config: dict, seeds: list[int],
                 metrics: dict, tables: dict | None = None, paper: dict | None = None,
                 notes: list[str] | None = None, elapsed_seconds: float) -> dict:
    """Assemble a results dict in the schema above (validated, JSON-ready).

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
    return to_jsonable(res)


def write_results(path: str | Path, results: dict) -> Path:
    """Validate ``results`` against the schema and write it atomically as indented JSON.

    Raises ``ValueError`` if a required key is missing or a value is NaN/inf (nothing is written).
    """
    missing = [k for k in _REQUIRED if k not in results]
    if missing:
        raise ValueError(f"results lack required keys {missing}; build them with make_results()")
    text = json.dumps(to_jsonable(results), indent=2, allow_nan=False) + "\n"
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


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically as PNG and close it."""
    import io  # noqa: PLC0415

    import matplotlib.pyplot as plt  # noqa: PLC0415

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return write_atomic(path, buf.getvalue())


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
    """Every entry where ``candidate`` differs from ``reference``.

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
