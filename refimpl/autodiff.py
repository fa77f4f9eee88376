"""Gradients of scalar functions of parameter pytrees, one reverse sweep, per-leaf roots.

``autograd.value_and_grad`` differentiates with respect to one argument; when that argument
is a pytree (our parameter lists of dicts), autograd traces the list and the dicts as
container nodes, and the backward pass builds each container's cotangent by allocating a
zero-filled copy of *all* parameters and adding each leaf's gradient into it, once per
container level. For a 784-500-500-10 MLP that bookkeeping cost more than the
backward matrix products themselves.

:func:`value_and_grad` here traces every array leaf as its own root instead: the function
receives an ordinary pytree whose leaves are autograd boxes, so indexing the pytree is plain
Python and costs nothing in the backward pass, and each leaf's gradient is read off its
root. The numbers are those of ``autograd.value_and_grad`` (tested bit for bit); only the
bookkeeping differs. It uses autograd's tracer (``trace_stack``, ``new_box``, ``VJPNode``),
the same machinery ``autograd.core.make_vjp`` is built from.
"""
from __future__ import annotations

from typing import Any, Callable

from autograd.core import VJPNode, add_outgrads, vspace
from autograd.tracer import getval, isbox, new_box, trace_stack
from autograd.util import toposort

from .backend import raw_module, tree_leaves, tree_map

__all__ = ["value_and_grad"]


def value_and_grad(fun: Callable[..., Any], *, has_aux: bool = False) -> Callable[..., tuple[Any, Any]]:
    """``value_and_grad(fun)(params, *args) -> (fun(params, *args), ∂fun/∂params)``.

    ``fun`` must return a scalar (a 0-d array or NumPy scalar); ``params`` is a pytree of
    NumPy arrays (lists, tuples, dicts). The gradient has the structure of ``params`` and the
    dtype of each leaf's cotangent (float32 stays float32 with ``refimpl.nn``); leaves the value
    does not depend on get zeros. Raises ``TypeError`` if the value is not a scalar.

    ``has_aux=True`` (as in JAX): ``fun`` returns ``(value, aux)``, where ``aux`` is any pytree
    computed on the way (network outputs, new BatchNorm statistics), and the result is
    ``((value, aux), gradient)``. Only ``value`` is differentiated; the leaves of ``aux`` are
    returned as plain arrays, detached from the trace.
    """
    def wrapped(params, *args, **kwargs):
        leaves = tree_leaves(params)
        with trace_stack.new_trace() as trace:
            roots = [VJPNode.new_root() for _ in leaves]
            boxes = iter([new_box(x, trace, root) for x, root in zip(leaves, roots)])
            out = fun(tree_map(lambda _: next(boxes), params), *args, **kwargs)
            if has_aux:
                out, aux = out
            traced = isbox(out) and out._trace == trace
            value, end = (out._value, out._node) if traced else (out, None)
        if getattr(value, "shape", ()) != ():
            raise TypeError(f"value_and_grad needs a scalar-valued function, got shape {value.shape}")
        grads = _backward(params, leaves, roots, value, end)
        return ((value, tree_map(getval, aux)), grads) if has_aux else (value, grads)

    return wrapped


def _backward(params, leaves, roots, value, end):
    """One reverse sweep from the value's node ``end`` to the per-leaf ``roots``: the gradient
    pytree (zeros where the value does not depend on a leaf, all zeros if ``end`` is None)."""
    if end is None:  # the value does not depend on the parameters
        return tree_map(lambda a: raw_module(a).zeros_like(a), params)
    index = {id(root): i for i, root in enumerate(roots)}
    grads = [None] * len(leaves)
    outgrads = {end: (vspace(value).ones(), False)}
    for node in toposort(end):
        g = outgrads.pop(node)[0]
        if id(node) in index:       # a root: this is the leaf's gradient
            grads[index[id(node)]] = g
            continue
        for parent, ingrad in zip(node.parents, node.vjp(g)):
            outgrads[parent] = add_outgrads(outgrads.get(parent), ingrad)
    grads = iter([raw_module(x).zeros_like(x) if g is None else g for x, g in zip(leaves, grads)])
    return tree_map(lambda _: next(grads), params)
