"""Finding, loading and pairing ``results.json`` files for :mod:`refimpl.verify`.

A candidate or a reference is a ``results.json`` file or a folder of them (one per chapter
subfolder; paper-scale references in ``<chapter>/paper/``). :func:`find_results` names them by
chapter, ``load_results`` reads and validates one (every problem as a message, no exception), and
``pair_results`` matches candidate chapters with references of the candidate's scale.
"""
from __future__ import annotations

import json
from pathlib import Path

from .results import SCHEMA, SchemaError, validate

__all__ = ["default_reference", "find_results", "load_results", "summary_statuses", "peek", "of_scale",
           "pair_results"]


def default_reference() -> Path:
    """The committed reference: ``figures/`` beside the ``refimpl`` package (a source checkout)."""
    return Path(__file__).resolve().parents[1] / "figures"


def find_results(path: Path) -> dict[str, Path]:
    """``{chapter: results.json}``: a file is itself (named by its folder, or by the folder above a
    ``paper/`` folder); a folder holds one
    ``results.json`` per chapter subfolder (searched recursively; the chapter is the subfolder's
    path relative to ``path``)."""
    path = Path(path)
    if path.is_file():
        folder = path.parent.parent if path.parent.name == "paper" else path.parent
        return {folder.name or path.stem: path}
    return {str(p.parent.relative_to(path)) if p.parent != path else path.name: p
            for p in sorted(path.rglob("results.json"))}


def load_results(path: Path) -> tuple[dict | None, list[str]]:
    """``(results, [])`` for a readable, schema-valid ``results.json``, else ``(None, messages)``
    naming the file and the problem (unreadable, not JSON, not a JSON object, another schema,
    schema violations); never raises for a bad file."""
    try:
        res = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as e:
        return None, [f"cannot read {path}: {e}"]
    except json.JSONDecodeError as e:
        return None, [f"{path} is not valid JSON: {e}"]
    if not isinstance(res, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(res), "a number")
        return None, [f"{path} is not a {SCHEMA} file: it holds {kind}, not a JSON object"]
    if res.get("schema") != SCHEMA:
        return None, [f"{path} is not a {SCHEMA} file (schema = {res.get('schema')!r})"]
    try:
        validate(res, str(path))
    except SchemaError as e:
        return None, [f"{path} does not follow the results schema: {x}" for x in e.errors]
    return res, []


def summary_statuses(root: Path) -> dict[str, dict]:
    """Chapter statuses from a run_all summary in ``root`` (by output folder), if there is one."""
    out = {}
    for p in sorted(Path(root).glob("run_all_*.json")) if Path(root).is_dir() else ():
        try:
            s = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for info in (s.get("chapters") or {}).values():
            if isinstance(info, dict) and info.get("output"):
                out[info["output"]] = info
    return out


def peek(path: Path) -> dict:
    """The JSON object in ``path``, or ``{}`` when it cannot be read (:func:`load_results` reports why)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def of_scale(ref_files: dict[str, Path], ref_docs: dict[str, dict], scale: str):
    """The references of one ``scale``, named like the candidate's chapters (``figures/<chapter>/paper/`` is
    ``<chapter>``); one whose scale cannot be read is kept (its error is reported when it is compared)."""
    files, docs = {}, {}
    for name, path in ref_files.items():
        if ref_docs[name].get("scale", scale) == scale:
            key = name[: -len("/paper")] if scale == "paper" and name.endswith("/paper") else name
            files[key], docs[key] = path, ref_docs[name]
    return files, docs


def pair_results(ref_files: dict[str, Path], cand_files: dict[str, Path], cand_is_file: bool,
                 ref_docs: dict[str, dict]) -> list[tuple[str, Path | None, Path | None]]:
    """``(chapter, reference or None, candidate or None)`` for every chapter of either side. A
    single candidate file is paired by chapter name, else with the only reference, else by its
    ``document`` (and ``experiment``) among ``ref_docs``; ``None`` marks a side without the chapter."""
    if cand_is_file:
        (cname, cpath), = cand_files.items()
        if cname in ref_files:
            return [(cname, ref_files[cname], cpath)]
        if len(ref_files) == 1:
            (rname, rpath), = ref_files.items()
            return [(rname, rpath, cpath)]
        cand = peek(cpath)
        same = [n for n, r in ref_docs.items() if r.get("document") == cand.get("document")]
        if len(same) > 1:
            same = [n for n in same if ref_docs[n].get("experiment") == cand.get("experiment")] or same[:1]
        return [(same[0], ref_files[same[0]], cpath)] if same else [(cname, None, cpath)]
    names = list(ref_files) + [n for n in cand_files if n not in ref_files]
    return [(n, ref_files.get(n), cand_files.get(n)) for n in names]
