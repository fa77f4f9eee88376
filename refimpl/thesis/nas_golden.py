"""Golden cases for the mutations and weight inheritance of Lamarckian NAS (thesis Sec. 7.3.2–7.3.3,
Eqs. 7.3–7.6): for a fixed parent, its weights and a mutation given with its random draws, the
child's genotype and which tensors it inherits. The expected values are written out by hand from
the equations (not computed by the code they check); :func:`check_golden_case` runs a case
through :mod:`refimpl.thesis.nas_space` and lists every disagreement.

The parent's weights are constants that name the tensor: tensor t (index in ``TENSORS`` = k, b,
γ, β, σ², μ) of parent block j is filled with 100 + 10·j + t, the output layer's W with 7 and b
with 8. An inherited tensor therefore still holds its parent's constant, bit for bit; a
re-initialised one holds the initial values (Glorot-uniform k, b = 0, γ = 1, β = 0, σ² = 1, μ = 0).
Block indices are 0-based (the thesis counts from 1). ``refimpl.cases`` exports these cases, with the
parent's weights as inputs, as the ``nas_mutation`` cases of ``cases/thesis/``.
"""
from __future__ import annotations

import numpy as np

from .nas_space import (TENSORS, Mutation, SearchSpace, apply_mutation, as_genotype, block_tensors,
                        inherit_weights, inheritance_plan, inherited_tensors, scaled_channels)

__all__ = ["golden_cases", "check_golden_case", "golden_space", "golden_parent_weights"]

_SPACE = {"input_shape": [1, 8, 8], "n_classes": 10, "channels": list(scaled_channels(4)),
          "kernels": [1, 3, 5], "strides": [1, 2], "max_stride2": 1}
_P = [[8, 3, 1], [16, 3, 1], [16, 5, 2]]


def _all(j):
    return [f"block{j}.{t}" for t in TENSORS]


_HEAD = ["head.W", "head.b"]

#: (name, equation, parent, mutation (kind, index, new block, value), reinit, child, sources, re-initialised)
_CASES = [
    ("change stride keeps every tensor", "Sec. 7.3.3 (θ' = θ)", _P, ("change_stride", 2, None, 1), "equations",
     [[8, 3, 1], [16, 3, 1], [16, 5, 1]], [0, 1, 2], []),
    ("change stride beyond the stride-2 limit is invalid", "Sec. 7.3.2", _P, ("change_stride", 0, None, 2),
     "equations", None, None, None),
    ("change kernel size re-initialises k_i only", "Eq. 7.3", _P, ("change_kernel", 1, None, 1), "equations",
     [[8, 3, 1], [16, 1, 1], [16, 5, 2]], [0, 1, 2], ["block1.k"]),
    ("add channels re-initialises θ_i and k_(i+1)", "Eq. 7.4", _P, ("add_channels", 0, None, None), "equations",
     [[16, 3, 1], [16, 3, 1], [16, 5, 2]], [None, 1, 2], _all(0) + ["block1.k"]),
    ("remove channels of the last block re-initialises θ_n and the output layer", "Eq. 7.4", _P,
     ("remove_channels", 2, None, None), "equations",
     [[8, 3, 1], [16, 3, 1], [8, 5, 2]], [0, 1, None], _all(2) + _HEAD),
    ("remove channels at the smallest channel count is a no-op", "Sec. 7.3.2", [[4, 3, 1]],
     ("remove_channels", 0, None, None), "equations", [[4, 3, 1]], None, None),
    ("add block inside re-initialises the new block and k of the next", "Eq. 7.5", _P,
     ("add_block", 1, [24, 3, 1], None), "equations",
     [[8, 3, 1], [24, 3, 1], [16, 3, 1], [16, 5, 2]], [0, None, 1, 2], _all(1) + ["block2.k"]),
    ("add block with the predecessor's width: the equations re-initialise k of the next", "Eq. 7.5", _P,
     ("add_block", 1, [8, 1, 1], None), "equations",
     [[8, 3, 1], [8, 1, 1], [16, 3, 1], [16, 5, 2]], [0, None, 1, 2], _all(1) + ["block2.k"]),
    ("add block with the predecessor's width: the prose keeps k of the next (shape unchanged)",
     "Sec. 7.3.3 prose", _P, ("add_block", 1, [8, 1, 1], None), "shape",
     [[8, 3, 1], [8, 1, 1], [16, 3, 1], [16, 5, 2]], [0, None, 1, 2], _all(1)),
    ("add block at the end with the same width keeps the output layer", "Eq. 7.5", _P,
     ("add_block", 3, [16, 1, 1], None), "equations",
     [[8, 3, 1], [16, 3, 1], [16, 5, 2], [16, 1, 1]], [0, 1, 2, None], _all(3)),
    ("add block at the end with another width re-initialises the output layer", "Eq. 7.5", _P,
     ("add_block", 3, [32, 3, 1], None), "equations",
     [[8, 3, 1], [16, 3, 1], [16, 5, 2], [32, 3, 1]], [0, 1, 2, None], _all(3) + _HEAD),
    ("add block at the front re-initialises k of the old first block", "Eq. 7.5", _P,
     ("add_block", 0, [4, 5, 1], None), "equations",
     [[4, 5, 1], [8, 3, 1], [16, 3, 1], [16, 5, 2]], [None, 0, 1, 2], _all(0) + ["block1.k"]),
    ("remove block inside re-initialises k of the next", "Eq. 7.6", _P, ("remove_block", 1, None, None),
     "equations", [[8, 3, 1], [16, 5, 2]], [0, 2], ["block1.k"]),
    ("remove block between equal widths: the equations re-initialise k of the next", "Eq. 7.6",
     [[16, 3, 1], [16, 3, 1], [16, 1, 1]], ("remove_block", 1, None, None), "equations",
     [[16, 3, 1], [16, 1, 1]], [0, 2], ["block1.k"]),
    ("remove block between equal widths: the prose keeps k of the next", "Sec. 7.3.3 prose",
     [[16, 3, 1], [16, 3, 1], [16, 1, 1]], ("remove_block", 1, None, None), "shape",
     [[16, 3, 1], [16, 1, 1]], [0, 2], []),
    ("remove the last block, same width before it: the output layer is kept", "Eq. 7.6", _P,
     ("remove_block", 2, None, None), "equations", [[8, 3, 1], [16, 3, 1]], [0, 1], []),
    ("remove the last block, other width before it: the output layer is re-initialised", "Eq. 7.6",
     [[8, 3, 1], [16, 3, 1]], ("remove_block", 1, None, None), "equations", [[8, 3, 1]], [0], _HEAD),
    ("removing the only block is invalid", "Sec. 7.3.2", [[4, 3, 1]], ("remove_block", 0, None, None),
     "equations", None, None, None),
]


def golden_space() -> SearchSpace:
    """The search space of the golden cases: 1×8×8 inputs, 10 classes, C/4, K, S, stride-2 limit 1."""
    return SearchSpace(**{**_SPACE, "input_shape": tuple(_SPACE["input_shape"])})


def golden_parent_weights(space: SearchSpace, genotype) -> tuple[list, list]:
    """The parent's ``(params, state)``: block j's tensor t filled with 100 + 10·j + t, head W 7, b 8."""
    params, state = space.init_weights(genotype, 0)
    for j in range(len(genotype)):
        for t_i, t in enumerate(TENSORS):
            value = np.float32(100 + 10 * j + t_i)
            layer, key, tree = {"k": (3 * j, "W", params), "b": (3 * j, "b", params),
                                "gamma": (3 * j + 1, "gamma", params), "beta": (3 * j + 1, "beta", params),
                                "var": (3 * j + 1, "var", state), "mean": (3 * j + 1, "mean", state)}[t]
            tree[layer][key] = np.full_like(tree[layer][key], value)
    params[-1] = {"W": np.full_like(params[-1]["W"], 7), "b": np.full_like(params[-1]["b"], 8)}
    return params, state


def golden_cases() -> list[dict]:
    """The cases as ``{name, equation, inputs, expected}`` dicts (JSON values).

    ``inputs``: ``space`` (SearchSpace fields), ``parent`` ([c, k, s] per block), ``weights`` (how the
    parent's tensors are filled), ``mutation`` ({kind, index, block, value}: the draws) and ``reinit``.
    ``expected``: ``valid`` (False: forced novelty rejects the child), ``noop`` (the child is the parent,
    also rejected), ``child``, ``sources`` (per child block the parent block it inherits from, or None),
    and ``reinitialised`` (the child tensors drawn afresh; every other tensor is the parent's source
    tensor bit for bit).
    """
    out = []
    for name, eq, parent, (kind, index, block, value), reinit, child, sources, fresh in _CASES:
        expected = {"valid": child is not None}
        if child is not None:
            expected.update(noop=child == parent, child=child, sources=sources,
                            reinitialised=None if fresh is None else sorted(fresh))
        out.append({"name": name, "equation": eq,
                    "inputs": {"space": dict(_SPACE), "parent": parent,
                               "weights": "block j tensor t (k, b, gamma, beta, var, mean = 0..5): 100 + 10*j + t; "
                                          "head W: 7, b: 8",
                               "mutation": {"kind": kind, "index": index, "block": block, "value": value},
                               "reinit": reinit},
                    "expected": expected})
    return out


def check_golden_case(case: dict) -> list[str]:
    """Every way in which refimpl disagrees with ``case`` (an empty list when it agrees)."""
    space = golden_space()
    inp, exp = case["inputs"], case["expected"]
    parent = as_genotype(inp["parent"])
    m = inp["mutation"]
    mutation = Mutation(m["kind"], m["index"], as_genotype([m["block"]])[0] if m["block"] else None, m["value"])
    child = apply_mutation(parent, mutation, space)
    problems = []
    if space.is_valid(child) != exp["valid"]:
        return [f"valid: expected {exp['valid']}, got {space.is_valid(child)}"]
    if not exp["valid"]:
        return []
    if [list(b) for b in child] != exp["child"]:
        problems.append(f"child: expected {exp['child']}, got {[list(b) for b in child]}")
    if (child == parent) != exp["noop"]:
        problems.append(f"noop: expected {exp['noop']}")
    if exp["noop"]:
        return problems
    plan = inheritance_plan(parent, mutation, space, reinit=inp["reinit"])
    if list(plan.sources) != exp["sources"]:
        problems.append(f"sources: expected {exp['sources']}, got {list(plan.sources)}")
    fresh = sorted(k for k, v in inherited_tensors(plan).items() if v is None)
    if fresh != exp["reinitialised"]:
        problems.append(f"re-initialised: expected {exp['reinitialised']}, got {fresh}")
    # the weights themselves: inherited tensors carry the parent's constant, the others the initial values
    params, state = golden_parent_weights(space, parent)
    _, cp, cs = inherit_weights(parent, params, state, mutation, space, 1, reinit=inp["reinit"])
    initial = {"b": 0.0, "gamma": 1.0, "beta": 0.0, "var": 1.0, "mean": 0.0}
    for j, src in enumerate(exp["sources"]):
        tensors = block_tensors(cp, cs, j)
        for t_i, t in enumerate(TENSORS):
            name, arr = f"block{j}.{t}", tensors[t]
            if name in exp["reinitialised"]:
                ok = not np.any(arr >= 100) if t == "k" else np.all(arr == initial[t])
            else:
                ok = np.all(arr == np.float32(100 + 10 * src + t_i))
            if not ok:
                problems.append(f"{name}: values do not match ({'fresh' if name in exp['reinitialised'] else 'kept'})")
    head_kept = "head.W" not in exp["reinitialised"]
    if head_kept != (np.all(cp[-1]["W"] == 7) and np.all(cp[-1]["b"] == 8)):
        problems.append("head: values do not match")
    return problems
