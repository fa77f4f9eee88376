"""Check results against the reference: the engine behind ``refimpl verify``.

A *reference* and a *candidate* are results.json files (schema: :mod:`refimpl.results`), or
folders of them, one subfolder per chapter (``figures/`` holds the committed reference,
``runs/<scale>/`` a run's outputs). A candidate is compared only with references of its own
``scale``: the quick-scale reference of a chapter is ``figures/<chapter>/results.json``, its
paper-scale reference (where this machine could make one) ``figures/<chapter>/paper/results.json``,
so ``refimpl verify runs/paper`` checks a paper-scale run against the paper-scale references, and a
chapter without one is reported as "only in candidate". Each file is validated against the JSON
Schema and then compared entry by entry:

* an **entry** is a leaf of ``config`` or ``metrics`` (a number, string, boolean, null, or an
  array of them), one row of a table, or ``document`` / ``scale`` / ``seeds``;
* numbers agree when ``|c − r| <= atol + rtol·|r|``, with the tolerance the reference sets for
  the entry (``tolerances`` by path pattern; a table's own ``tolerance`` and
  ``column_tolerances``), :data:`refimpl.results.DEFAULT_TOLERANCE` where it sets none, or
  the ``rtol``/``atol`` given to :func:`verify` (the command line's ``--rtol``/``--atol``);
  strings and booleans agree when equal;
* table rows are matched by their label columns (``key``, default the first column), never by
  position; a label that repeats is told apart by its occurrence (``label #2``);
* an entry that came from a data set (``datasets.entries``, a table's ``dataset``) absent in
  either run is **not comparable** (the absent data set and the reason are reported), not a
  difference;
* not compared unless asked: ``notes`` and metrics marked ``free_text`` (``notes=True``),
  ``versions`` (``versions=True``), durations — keys and columns whose names contain
  "seconds", and ``elapsed_seconds`` (``timings=True``); never compared: ``experiment``,
  ``paper``, ``created``.

The outcome: every entry is *equal*, *differs*, *missing* (in the reference, not in the
candidate), *only in candidate*, or *not comparable*. :func:`verify` returns a
:class:`Report`; its :meth:`~Report.exit_status` is 0 when nothing differs or is missing
(1 otherwise; with ``strict``, entries not comparable or only in the candidate count too; 2
when a file could not be read, is not a results file or does not follow the schema — a candidate
that is only in the candidate is validated too —, when a single candidate file has no reference
(none for its chapter folder, document and scale), or when nothing was compared at all: a run
whose every chapter is only in the candidate is not checked, not reproduced).
"""
from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from .results import DEFAULT_TOLERANCE
from .results_files import (default_reference, find_results, load_results, of_scale, pair_results, peek,
                            summary_statuses)

__all__ = ["Entry", "FileReport", "Report", "verify", "compare_results", "find_results",
           "default_reference", "EQUAL", "DIFFERS", "MISSING", "EXTRA", "NOT_COMPARABLE"]

EQUAL, DIFFERS, MISSING, EXTRA, NOT_COMPARABLE = "equal", "differs", "missing", "only in candidate", "not comparable"
_MISSING_VALUE = object()


# ---- paths and patterns ---------------------------------------------------------------------

def _show(path: tuple[str, ...]) -> str:
    out = ""
    for s in path:
        out += s if (s.startswith("[") or not out) else "/" + s
    return out


def _matches(pattern: str, path: tuple[str, ...]) -> int:
    """Number of segments matched when ``pattern`` matches the start of ``path`` (0: no match)."""
    segs = [s for s in pattern.split("/") if s != ""]
    if not segs or len(segs) > len(path):
        return 0
    return len(segs) if all(fnmatch.fnmatchcase(p, q) for p, q in zip(path, segs)) else 0


def _lookup(patterns: dict | None, path: tuple[str, ...]):
    """The value of the longest pattern in ``patterns`` that matches ``path`` (later wins ties)."""
    best, best_n = None, 0
    for pattern, value in (patterns or {}).items():
        n = _matches(pattern, path)
        if n and n >= best_n:
            best, best_n = value, n
    return best


def _names(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(v for v in value if v is not None)


def _display(path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    if path is None:
        return "-"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def _is_timing(name: str) -> bool:
    return "seconds" in name.lower()


# ---- values ---------------------------------------------------------------------------------

def _has_container(v) -> bool:
    return isinstance(v, dict) or (isinstance(v, list) and any(_has_container(x) for x in v))


def _leaves(obj, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, leaf) pairs; a leaf is a scalar or an array (nested lists) of scalars."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (str(k),))
    elif isinstance(obj, list) and any(isinstance(x, dict) or (isinstance(x, list) and _has_container(x))
                                       for x in obj):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (f"[{i}]",))
    else:
        yield path, obj


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list) and len(v) > 6:
        return "[" + ", ".join(_fmt(x) for x in v[:6]) + f", … ({len(v)} values)]"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def _tol_text(tol: dict) -> str:
    why = f"; {tol['why']}" if tol.get("why") else ""
    return f"atol {tol['atol']:g} + rtol {tol['rtol']:g}·|reference|{why}"


def _compare_values(r, c, tol: dict, where: str = "") -> str | None:
    """None when ``r`` and ``c`` agree under ``tol``, else why not (with both values)."""
    if isinstance(r, list) or isinstance(c, list):
        if not (isinstance(r, list) and isinstance(c, list)):
            return f"{where}reference {_fmt(r)}, candidate {_fmt(c)} (one is an array)"
        if len(r) != len(c):
            return f"{where}array lengths differ: reference {len(r)}, candidate {len(c)}"
        worst = None
        for i, (a, b) in enumerate(zip(r, c)):
            why = _compare_values(a, b, tol, f"{where}[{i}] ")
            if why is not None:
                excess = abs(b - a) - (tol["atol"] + tol["rtol"] * abs(a)) if _is_number(a) and _is_number(b) else math.inf
                if worst is None or excess > worst[0]:
                    worst = (excess, why)
        return None if worst is None else worst[1]
    if _is_number(r) and _is_number(c):
        bound = tol["atol"] + tol["rtol"] * abs(r)
        if abs(c - r) <= bound:
            return None
        return (f"{where}reference {_fmt(r)}, candidate {_fmt(c)}: |difference| {abs(c - r):.3g} > {bound:.3g} "
                f"({_tol_text(tol)})")
    if r == c and type(r) is type(c):
        return None
    return f"{where}reference {_fmt(r)}, candidate {_fmt(c)}"


# ---- the report -----------------------------------------------------------------------------

@dataclass
class Entry:
    """One compared entry: its path, outcome, and the detail (values, tolerance, data set)."""
    path: str
    status: str
    detail: str = ""
    datasets: tuple[str, ...] = ()        #: for NOT_COMPARABLE: the absent data set(s)
    absent_in: str = ""                   #: for NOT_COMPARABLE: "candidate" or "reference"

    def __str__(self):
        return f"{self.status.upper():<17} {self.path}" + (f": {self.detail}" if self.detail else "")


@dataclass
class FileReport:
    """The comparison of one chapter's results."""
    chapter: str
    reference: Path | None
    candidate: Path | None
    entries: list[Entry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    absent: dict[str, dict[str, str]] = field(default_factory=lambda: {"candidate": {}, "reference": {}})

    def count(self, status: str) -> int:
        return sum(e.status == status for e in self.entries)


@dataclass
class Report:
    """The comparison of a candidate with a reference (one or more chapters)."""
    candidate: Path
    reference: Path
    files: list[FileReport]
    strict: bool = False

    def count(self, status: str) -> int:
        return sum(f.count(status) for f in self.files)

    @property
    def errors(self) -> list[str]:
        return [f"{f.chapter}: {e}" for f in self.files for e in f.errors]

    def n_reference(self) -> int:
        """The number of reference entries considered: equal, differing, missing, or not comparable
        for want of a data set in the candidate (0: nothing was compared)."""
        n = sum(f.count(s) for f in self.files for s in (EQUAL, DIFFERS, MISSING))
        return n + sum(1 for f in self.files for e in f.entries
                       if e.status == NOT_COMPARABLE and e.absent_in == "candidate")

    def exit_status(self) -> int:
        if self.errors or not self.n_reference():
            return 2
        if self.count(DIFFERS) or self.count(MISSING):
            return 1
        if self.strict and (self.count(NOT_COMPARABLE) or self.count(EXTRA)):
            return 1
        return 0

    def not_comparable(self) -> dict[tuple[str, str], dict[str, int]]:
        """{(data set, where absent): {chapter: number of entries}}."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for f in self.files:
            for e in f.entries:
                if e.status == NOT_COMPARABLE:
                    for d in e.datasets or ("?",):
                        per = out.setdefault((d, e.absent_in), {})
                        per[f.chapter] = per.get(f.chapter, 0) + 1
        return out

    def _why_absent(self, name: str, where: str) -> str:
        for f in self.files:
            if name in f.absent.get(where, {}):
                return f.absent[where][name]
        return ""

    def summary(self) -> str:
        """One paragraph: how many reference entries were reproduced, differ, are missing, and
        which are not comparable and why."""
        n_ref = self.n_reference()
        chapters = ", ".join(f.chapter for f in self.files)
        parts = [f"Verified {_display(self.candidate)} against {_display(self.reference)} ({len(self.files)} "
                 f"chapter{'s' if len(self.files) != 1 else ''}: {chapters}): "
                 f"{self.count(EQUAL):,} of {n_ref:,} reference entries reproduced within their tolerances, "
                 f"{self.count(DIFFERS):,} differ, {self.count(MISSING):,} missing in the candidate"]
        nc = self.not_comparable()
        if nc:
            items = []
            for (name, where), per in sorted(nc.items()):
                why = self._why_absent(name, where)
                chap = ", ".join(f"{c} {n:,}" for c, n in per.items())
                fix = (f"; `refimpl data get {name}` makes them comparable"
                       if where == "candidate" and "refimpl data get" not in why and " " not in name else "")
                items.append(f"{sum(per.values()):,} not comparable because data set {name} was absent in the "
                             f"{where} ({chap}){': ' + why if why else ''}{fix}")
            parts.append("; ".join(items))
        else:
            parts.append("none not comparable")
        if self.count(EXTRA):
            parts.append(f"{self.count(EXTRA):,} entries only in the candidate (not checked)")
        if self.errors:
            parts.append(f"{len(self.errors)} file error(s): " + "; ".join(self.errors[:3]))
        elif not n_ref:
            parts.append("nothing was compared: no chapter of the candidate has a reference of its scale")
        status = self.exit_status()
        verdict = {0: "REPRODUCED" + (" (with entries not comparable; --strict fails on them)"
                                      if self.count(NOT_COMPARABLE) and not self.strict else ""),
                   1: "NOT REPRODUCED",
                   2: "NOT CHECKED (file errors)" if self.errors else "NOT CHECKED (nothing compared)"}[status]
        return "; ".join(parts) + f". Result: {verdict} (exit status {status})."

    def render(self, *, limit: int | None = 20, show_equal: bool = False) -> str:
        """The readable report: per chapter, every difference with both values and the tolerance
        that judged it, missing entries, not-comparable groups, and counts; then :meth:`summary`."""
        lines = []
        for f in self.files:
            lines.append(f"== {f.chapter}: {_display(f.candidate) if f.candidate else '(no candidate file)'} vs. "
                         f"{_display(f.reference) if f.reference else '(no reference file)'}")
            for e in f.errors:
                lines.append(f"   ERROR {e}")
            shown = 0
            for status in ((EQUAL,) if show_equal else ()) + (DIFFERS, MISSING, EXTRA):
                for e in (x for x in f.entries if x.status == status):
                    if limit is not None and shown >= limit and status != EQUAL:
                        continue
                    lines.append(f"   {e}")
                    shown += status != EQUAL
            hidden = f.count(DIFFERS) + f.count(MISSING) + f.count(EXTRA) - shown
            if hidden > 0:
                lines.append(f"   … and {hidden} more (show all with --all)")
            groups: dict[tuple[str, str], list[Entry]] = {}
            for e in f.entries:
                if e.status == NOT_COMPARABLE:
                    groups.setdefault((", ".join(e.datasets) or "?", e.absent_in), []).append(e)
            for (names, where), es in groups.items():
                why = "; ".join(f"{n}: {f.absent.get(where, {}).get(n)}" for n in names.split(", ")
                                if f.absent.get(where, {}).get(n))
                lines.append(f"   NOT COMPARABLE    {len(es)} entries (data set {names} absent in the {where}"
                             f"{'; ' + why if why else ''}), e.g. {es[0].path}")
            lines.append(f"   {f.count(EQUAL)} equal, {f.count(DIFFERS)} differ, {f.count(MISSING)} missing, "
                         f"{f.count(NOT_COMPARABLE)} not comparable, {f.count(EXTRA)} only in candidate")
        lines.append("")
        lines.append(self.summary())
        return "\n".join(lines)


# ---- comparing two results dicts ------------------------------------------------------------

def _datasets(res: dict) -> dict:
    d = res.get("datasets") or {}
    return {"used": list(d.get("used") or []), "absent": dict(d.get("absent") or {}),
            "entries": dict(d.get("entries") or {})}


def compare_results(reference: dict, candidate: dict, *, rtol: float | None = None, atol: float | None = None,
                    notes: bool = False, versions: bool = False, timings: bool = False) -> FileReport:
    """Compare two results dicts (already valid) entry by entry; see the module docstring."""
    rep = FileReport(chapter=str(reference.get("document", "?")), reference=None, candidate=None)
    override = None
    if rtol is not None or atol is not None:
        override = {"rtol": float(rtol or 0.0), "atol": float(atol or 0.0), "why": "given on the command line"}
    rd, cd = _datasets(reference), _datasets(candidate)
    rep.absent = {"candidate": cd["absent"], "reference": rd["absent"]}
    add = rep.entries.append

    def tol_for(path, own=None):
        if override is not None:
            return override
        return own or _lookup(reference.get("tolerances"), path) or DEFAULT_TOLERANCE

    def absent_datasets(names: Iterable[str]) -> tuple[tuple[str, ...], str]:
        names = tuple(names)
        for where, absent in (("candidate", cd["absent"]), ("reference", rd["absent"])):
            hit = tuple(n for n in names if n in absent)
            if hit:
                return hit, where
        return (), ""

    def datasets_of(path) -> tuple[str, ...]:
        return _names(_lookup(rd["entries"], path) or _lookup(cd["entries"], path))

    free_text = list(reference.get("free_text") or []) + list(candidate.get("free_text") or [])

    # --- what was run
    for key in ("document", "scale", "seeds"):
        why = _compare_values(reference.get(key), candidate.get(key), {"rtol": 0.0, "atol": 0.0})
        add(Entry(key, EQUAL if why is None else DIFFERS, why or ""))

    # --- config and metrics: leaf by leaf
    for section in ("config", "metrics") + (("versions",) if versions else ()):
        r_leaves = dict(_leaves(reference.get(section, {}), (section,)))
        c_leaves = dict(_leaves(candidate.get(section, {}), (section,)))
        for path in list(r_leaves) + [p for p in c_leaves if p not in r_leaves]:
            if not timings and any(_is_timing(s) for s in path):
                continue
            if not notes and any(_matches(p, path) for p in free_text):
                continue
            shown = _show(path)
            r, c = r_leaves.get(path, _MISSING_VALUE), c_leaves.get(path, _MISSING_VALUE)
            hit, where = absent_datasets(datasets_of(path))
            if hit:
                add(Entry(shown, NOT_COMPARABLE, datasets=hit, absent_in=where))
            elif c is _MISSING_VALUE:
                add(Entry(shown, MISSING, f"reference {_fmt(r)}"))
            elif r is _MISSING_VALUE:
                add(Entry(shown, EXTRA, f"candidate {_fmt(c)}"))
            else:
                exact = section == "versions"
                why = _compare_values(r, c, {"rtol": 0.0, "atol": 0.0} if exact else tol_for(path))
                add(Entry(shown, EQUAL if why is None else DIFFERS, why or ""))

    # --- tables: row by row, matched by label
    rt_all, ct_all = reference.get("tables", {}), candidate.get("tables", {})
    for name in list(rt_all) + [n for n in ct_all if n not in rt_all]:
        _compare_table(name, rt_all.get(name), ct_all.get(name), add, tol_for, absent_datasets, timings)

    # --- optional: notes, timings
    if notes:
        rn, cn = list(reference.get("notes", [])), list(candidate.get("notes", []))
        for i, n in enumerate(rn):
            add(Entry(f"notes[{i}]", EQUAL if n in cn else MISSING, "" if n in cn else _fmt(n)))
        for i, n in enumerate(cn):
            if n not in rn:
                add(Entry(f"notes[{i}] (candidate)", EXTRA, _fmt(n)))
    if timings:
        why = _compare_values(reference.get("elapsed_seconds"), candidate.get("elapsed_seconds"),
                              tol_for(("elapsed_seconds",)))
        add(Entry("elapsed_seconds", EQUAL if why is None else DIFFERS, why or ""))
    return rep


def _column_ids(columns: list[str]) -> list[str]:
    """Column names, a repeated name told apart by its occurrence (``± std``, ``± std #2``)."""
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
        out.append(c if seen[c] == 1 else f"{c} #{seen[c]}")
    return out


def _row_labels(t: dict, key: list[str]) -> tuple[list[str] | None, str]:
    """One label per row (repeats numbered) from the ``key`` columns, or (None, why not)."""
    missing = [k for k in key if k not in t["columns"]]
    if missing:
        return None, f"has no label column {missing[0]!r}"
    idx = [t["columns"].index(k) for k in key]
    labels, seen = [], {}
    for row in t["rows"]:
        lab = ", ".join(_fmt(row[i]) if not isinstance(row[i], str) else row[i] for i in idx)
        seen[lab] = seen.get(lab, 0) + 1
        labels.append(lab if seen[lab] == 1 else f"{lab} #{seen[lab]}")
    return labels, ""


def _row_datasets(t: dict, n: int) -> list[tuple[str, ...]]:
    ds = t.get("dataset")
    if isinstance(ds, list):
        return [_names(d) for d in ds]
    return [_names(ds)] * n


def _compare_table(name, rt, ct, add, tol_for, absent_datasets, timings):
    base = f"tables/{name}"
    if rt is None or ct is None:
        t = rt if rt is not None else ct
        names = {d for ds in _row_datasets(t, len(t["rows"])) for d in ds}
        hit, where = absent_datasets(sorted(names))
        if hit and all(set(ds) & set(hit) for ds in _row_datasets(t, len(t["rows"]))):
            add(Entry(base, NOT_COMPARABLE, datasets=hit, absent_in=where))
        elif ct is None:
            add(Entry(base, MISSING, f"table with {len(rt['rows'])} rows"))
        else:
            add(Entry(base, EXTRA, f"table with {len(ct['rows'])} rows"))
        return
    key = rt.get("key") or rt["columns"][:1]
    r_labels, why_r = _row_labels(rt, key)
    c_labels, why_c = _row_labels(ct, key)
    if r_labels is None or c_labels is None:
        add(Entry(base, DIFFERS, f"the {'reference' if r_labels is None else 'candidate'} table "
                                 f"{why_r or why_c}; rows cannot be matched"))
        return
    col_tol = rt.get("column_tolerances") or {}
    r_cols, c_cols = _column_ids(rt["columns"]), _column_ids(ct["columns"])
    columns = [c for c in r_cols if c not in key and (timings or not _is_timing(c))]
    extra_cols = [c for c in c_cols if c not in r_cols and (timings or not _is_timing(c))]
    r_ds, c_ds = _row_datasets(rt, len(rt["rows"])), _row_datasets(ct, len(ct["rows"]))
    c_rows = {lab: (row, ds) for lab, row, ds in zip(c_labels, ct["rows"], c_ds)}
    for lab, row, ds in zip(r_labels, rt["rows"], r_ds):
        path = f"{base} [{lab}]"
        hit, where = absent_datasets(ds + (c_rows[lab][1] if lab in c_rows else ()))
        if hit:
            add(Entry(path, NOT_COMPARABLE, datasets=hit, absent_in=where))
            continue
        if lab not in c_rows:
            add(Entry(path, MISSING, "row missing in the candidate"))
            continue
        crow = c_rows[lab][0]
        problems = []
        for col in columns:
            r = row[r_cols.index(col)]
            if col not in c_cols:
                problems.append(f"column {col!r} missing in the candidate")
                continue
            c = crow[c_cols.index(col)]
            plain = col.split(" #")[0]
            tol = tol_for(("tables", name, plain), col_tol.get(col) or col_tol.get(plain) or rt.get("tolerance"))
            why = _compare_values(r, c, tol)
            if why is not None:
                problems.append(f"{col}: {why}")
        problems += [f"column {col!r} only in the candidate" for col in extra_cols]
        add(Entry(path, DIFFERS if problems else EQUAL, "; ".join(problems)))
    r_set = set(r_labels)
    for lab, (row, ds) in c_rows.items():
        if lab in r_set:
            continue
        hit, where = absent_datasets(ds)
        add(Entry(f"{base} [{lab}]", NOT_COMPARABLE if hit else EXTRA, "" if hit else "row only in the candidate",
                  datasets=hit, absent_in=where))


def verify(candidate: str | Path, reference: str | Path | None = None, *, rtol: float | None = None,
           atol: float | None = None, notes: bool = False, versions: bool = False, timings: bool = False,
           strict: bool = False, chapters: Iterable[str] | None = None) -> Report:
    """Compare ``candidate`` (a results.json or a folder of them) with ``reference`` (default:
    :func:`default_reference`). ``chapters`` restricts a folder comparison to those chapter
    folders. Raises ``FileNotFoundError`` when either path does not exist."""
    candidate = Path(candidate)
    reference = Path(reference) if reference is not None else default_reference()
    for p, what in ((candidate, "candidate"), (reference, "reference")):
        if not p.exists():
            raise FileNotFoundError(f"{what} {p} does not exist")
    if candidate.is_dir() and (candidate / "results.json").is_file():   # one chapter's output folder
        candidate = candidate / "results.json"
    ref_files, cand_files = find_results(reference), find_results(candidate)
    if not cand_files:
        raise FileNotFoundError(f"no results.json in {candidate}")
    if not ref_files:
        raise FileNotFoundError(f"no results.json in the reference {reference}")
    ref_docs = {n: peek(p) for n, p in ref_files.items()}
    cand_scales = {n: peek(p).get("scale") or "quick" for n, p in cand_files.items()}
    pairs = []
    for scale in sorted(set(cand_scales.values())):
        refs, docs = of_scale(ref_files, ref_docs, scale)
        cands = {n: p for n, p in cand_files.items() if cand_scales[n] == scale}
        pairs += pair_results(refs, cands, candidate.is_file(), docs)
    if chapters is not None:
        wanted = set(chapters)
        pairs = [p for p in pairs if p[0] in wanted]
    statuses = summary_statuses(candidate)
    files = []
    for name, rpath, cpath in pairs:
        fr = FileReport(chapter=name, reference=rpath, candidate=cpath)
        if rpath is None:
            cand, errors = load_results(cpath)
            fr.errors = [f"candidate {e}" for e in errors]
            if cand is not None and candidate.is_file():
                fr.errors.append(f"candidate {cpath}: no reference for document {cand['document']!r} (experiment "
                                 f"{cand['experiment']!r}, scale {cand['scale']!r}) in {reference}")
            elif cand is not None:
                fr.entries.append(Entry(name, EXTRA, "chapter only in the candidate"))
        elif cpath is None:
            st = statuses.get(name, {})
            if st.get("returncode") == 3:
                fr.entries.append(Entry(name, NOT_COMPARABLE, "the chapter ran no data set (exit status 3)",
                                        datasets=tuple(st.get("absent") or ("every data set of the chapter",)),
                                        absent_in="candidate"))
            else:
                fr.entries.append(Entry(name, MISSING, "no results.json for this chapter in the candidate"
                                        + (f" (the run's status: {st['status']})" if st.get("status") else "")))
        else:
            ref, e1 = load_results(rpath)
            cand, e2 = load_results(cpath)
            fr.errors = [f"reference {e}" for e in e1] + [f"candidate {e}" for e in e2]
            if ref is not None and cand is not None:
                sub = compare_results(ref, cand, rtol=rtol, atol=atol, notes=notes, versions=versions, timings=timings)
                fr.entries, fr.absent = sub.entries, sub.absent
        files.append(fr)
    return Report(candidate=candidate, reference=reference, files=files, strict=strict)
