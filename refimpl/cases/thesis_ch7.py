"""Golden cases of document ``thesis`` ch. 7 (Lamarckian NAS; ``refimpl.thesis.nas_space``).

The cases are :func:`refimpl.thesis.nas_golden.golden_cases`: for a fixed parent and one mutation
given with its draws (kind, block index, new block, drawn value), the child architecture and which
tensors it inherits (Eqs. 7.3–7.6), written out by hand from the equations. Here they become
``nas_mutation`` cases with the parent's weights as inputs: every parent tensor is filled with a
constant that names it (block j, tensor t of k, b, γ, β, σ², μ: 100 + 10·j + t; the output layer's
W 7, b 8), so an inherited tensor must still hold its source's constant, bit for bit. Re-initialised
tensors are drawn afresh by the implementation and are compared by shape only. The export checks
that refimpl agrees with every hand-written case (:func:`refimpl.thesis.nas_golden.check_golden_case`)
and with the outputs written here (:func:`nas_child`, the function the NumPy adapter wraps).
"""
from __future__ import annotations

import re

import numpy as np

from ..thesis.nas_golden import check_golden_case, golden_cases
from ..thesis.nas_space import TENSORS, Mutation, SearchSpace, apply_mutation, as_genotype, block_tensors, \
    inherit_weights, inheritance_plan, inherited_tensors
from . import Kind, compare, make_case

__all__ = ["KINDS", "cases", "nas_child", "parent_weights"]


def _constant(a) -> float:
    """The value every element of ``a`` holds, or NaN if they differ (a freshly drawn tensor)."""
    a = np.asarray(a, dtype=np.float64)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else float("nan")


def _derive(raw, inputs):
    """Compared outputs of an adapter's ``{valid, noop, child, sources, reinitialised, tensors}``: the
    tensors become ``inherited`` (each tensor's constant, NaN if not constant; only the names the case
    expects are compared, bit-exactly) and ``shapes`` (every tensor's shape, exactly)."""
    out = {k: v for k, v in raw.items() if k != "tensors"}
    tensors = raw.get("tensors")
    if tensors is not None:
        out["inherited"] = {k: _constant(v) for k, v in tensors.items()}
        out["shapes"] = {k: np.array(np.shape(v), dtype=np.int64) for k, v in tensors.items()}
    return out


KINDS = {
    "nas_mutation": Kind(
        "nas_mutation(space, parent, parent_weights, mutation, reinit) -> {valid, noop, child, sources, "
        "reinitialised, tensors}",
        "Lamarckian NAS (Secs. 7.3.2-7.3.3): apply mutation {kind, index, block, value} (the draws; index 0-based, "
        "for add_block the position 0..n) to parent [[channels, kernel, stride], ...] in space (channels, kernels, "
        "strides, max_stride2 strided blocks at most, input_shape, n_classes). valid: the child lies in the space "
        "(false: only valid is compared); noop: child == parent (then only valid, noop, child are compared); "
        "otherwise sources (per child block the parent block it inherits from, null for a new block), "
        "reinitialised (sorted names of the child tensors drawn afresh: 'block<j>.<k|b|gamma|beta|var|mean>', "
        "'head.W', 'head.b') and tensors (name -> child tensor; conv k (C_out, C_in, k, k), head W (C_n, classes)), "
        "the parent's tensors being parent_weights[name] everywhere. Eqs. 7.3-7.6 with reinit 'equations' "
        "(k of the block after an added/removed block always fresh) or 'shape' (only if its shape changes). "
        "Compared: inherited tensors bit-exactly (their constant), every tensor's shape, the rest exactly",
        derive=_derive),
}


def _slug(text: str) -> str:
    return "nas_" + re.sub(r"[^a-z0-9]+", "_", text.lower().replace("'s", "").replace("θ", "theta")).strip("_")


def parent_weights(n_blocks: int) -> dict:
    """The constant of every parent tensor: block j tensor t (index in TENSORS) 100 + 10·j + t; head W 7, b 8."""
    out = {f"block{j}.{t}": float(100 + 10 * j + i) for j in range(n_blocks) for i, t in enumerate(TENSORS)}
    return {**out, "head.W": 7.0, "head.b": 8.0}


def _set(params, state, name, value):
    """Fill the parent tensor ``name`` with ``value`` (same dtype)."""
    if name.startswith("head."):
        params[-1][name[5:]] = np.full_like(params[-1][name[5:]], value)
        return
    j, t = int(name.split(".")[0][5:]), name.split(".")[1]
    layer, key, tree = {"k": (3 * j, "W", params), "b": (3 * j, "b", params), "gamma": (3 * j + 1, "gamma", params),
                        "beta": (3 * j + 1, "beta", params), "var": (3 * j + 1, "var", state),
                        "mean": (3 * j + 1, "mean", state)}[t]
    tree[layer][key] = np.full_like(tree[layer][key], value)


def nas_child(space: dict, parent, parent_weights: dict, mutation: dict, reinit: str) -> dict:
    """refimpl's answer to a ``nas_mutation`` case: ``apply_mutation``, ``inheritance_plan`` and
    ``inherit_weights`` on a parent whose tensors hold the given constants (fresh draws: seed 1)."""
    sp = SearchSpace(**{**space, "input_shape": tuple(space["input_shape"])})
    g = as_genotype(parent)
    m = Mutation(mutation["kind"], int(mutation["index"]),
                 as_genotype([mutation["block"]])[0] if mutation["block"] is not None else None, mutation["value"])
    child = apply_mutation(g, m, sp)
    out = {"valid": sp.is_valid(child)}
    if not out["valid"]:
        return out
    out.update(noop=child == g, child=[list(b) for b in child])
    if out["noop"]:
        return out
    params, state = sp.init_weights(g, 0)
    for name, value in parent_weights.items():
        _set(params, state, name, value)
    plan = inheritance_plan(g, m, sp, reinit=reinit)
    _, cp, cs = inherit_weights(g, params, state, m, sp, 1, reinit=reinit)
    tensors = {f"block{j}.{t}": v for j in range(len(child)) for t, v in block_tensors(cp, cs, j).items()}
    tensors.update({"head.W": cp[-1]["W"], "head.b": cp[-1]["b"]})
    out.update(sources=list(plan.sources), tensors=tensors,
               reinitialised=sorted(k for k, v in inherited_tensors(plan).items() if v is None))
    return out


def _shapes(space: dict, child) -> dict:
    """Every child tensor's shape, from the genotype (conv k (C_out, C_in, k, k); head W (C_n, classes))."""
    out, c_in = {}, space["input_shape"][0]
    for j, (c, k, _) in enumerate(child):
        out[f"block{j}.k"] = [c, c_in, k, k]
        out.update({f"block{j}.{t}": [c] for t in TENSORS[1:]})
        c_in = c
    out.update({"head.W": [c_in, space["n_classes"]], "head.b": [space["n_classes"]]})
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


def _expected(golden: dict, weights: dict, space: dict) -> dict:
    exp = golden["expected"]
    if not exp["valid"]:
        return {"valid": False}
    if exp["noop"]:
        return {"valid": True, "noop": True, "child": exp["child"]}
    fresh = set(exp["reinitialised"])
    inherited = {f"block{j}.{t}": weights[f"block{src}.{t}"] for j, src in enumerate(exp["sources"]) if src is not None
                 for t in TENSORS if f"block{j}.{t}" not in fresh}
    inherited.update({k: weights[k] for k in ("head.W", "head.b") if k not in fresh})
    return {"valid": True, "noop": False, "child": exp["child"], "sources": exp["sources"],
            "reinitialised": exp["reinitialised"], "inherited": inherited, "shapes": _shapes(space, exp["child"])}


def cases() -> list[dict]:
    """Every ch. 7 case: one per hand-written golden case."""
    out = []
    for golden in golden_cases():
        assert check_golden_case(golden) == [], f"refimpl disagrees with the golden case {golden['name']!r}"
        inp = golden["inputs"]
        weights = parent_weights(len(inp["parent"]))
        inputs = {"space": inp["space"], "parent": inp["parent"], "parent_weights": weights,
                  "mutation": inp["mutation"], "reinit": inp["reinit"]}
        expected = _expected(golden, weights, inp["space"])
        got = _derive(nas_child(**inputs), inputs)
        assert all(r.ok for r in compare(got, expected, {"rtol": 0.0, "atol": 0.0})), \
            f"refimpl disagrees with the case written for {golden['name']!r}"
        out.append(make_case(_slug(golden["name"]), "nas_mutation", "thesis " + golden["equation"],
                             "refimpl.thesis.nas_space.inherit_weights", inputs, expected, rtol=0.0, atol=0.0,
                             description=golden["name"] + " (refimpl.thesis.nas_golden: expected values written by "
                                         "hand from the equations)"))
    return out
