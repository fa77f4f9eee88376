"""Backend switch: NumPy/autograd path, GPU errors, and CuPy coverage of every xp.<name> we use."""
import ast
import pathlib

import autograd.numpy as anp
import numpy as np
import pytest

from refimpl import backend
from refimpl.backend import (GPUUnavailableError, array_module, asnumpy, to_device, tree_leaves,
                             tree_map)


def test_array_module_is_autograd_numpy_on_cpu():
    assert array_module(np.zeros(2), 1.0, None) is anp
    assert array_module() is anp


def test_is_gpu_module_is_true_only_for_the_imported_cupy_module(monkeypatch):
    import sys
    import types
    for xp in (np, anp, None, 1.0, types.ModuleType("numpy"), types.SimpleNamespace(__name__="cupy")):
        assert not backend.is_gpu_module(xp)
    monkeypatch.delitem(sys.modules, "cupy", raising=False)           # CuPy not imported: never
    assert not backend.is_gpu_module(types.ModuleType("cupy"))
    fake = types.ModuleType("cupy")
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert backend.is_gpu_module(fake) and not backend.is_gpu_module(np)
    monkeypatch.undo()
    cupy = backend.cupy_or_none()
    if cupy is not None:                  # CuPy imports without a GPU: the module test still works
        assert backend.is_gpu_module(cupy) and not backend.is_gpu_module(cupy.cuda)


def test_no_backend_test_by_module_name_outside_backend():
    """is_gpu_module is the one test for the GPU module: no ``__name__ == "cupy"`` checks elsewhere."""
    root = pathlib.Path(backend.__file__).parent
    offenders = [str(p.relative_to(root.parent)) for p in root.rglob("*.py")
                 if '"cupy"' in p.read_text() and p.name != "backend.py"]
    assert not offenders, f"compare modules with refimpl.backend.is_gpu_module instead: {offenders}"


def test_tree_map_preserves_structure():
    tree = [{"W": np.ones(2), "b": np.zeros(1)}, {}, (np.ones(3),)]
    doubled = tree_map(lambda a: 2 * a, tree)
    assert isinstance(doubled, list) and isinstance(doubled[2], tuple) and doubled[1] == {}
    np.testing.assert_array_equal(doubled[0]["W"], 2)
    summed = tree_map(lambda a, b: a + b, tree, doubled)
    np.testing.assert_array_equal(summed[2][0], 3)
    assert len(tree_leaves(tree)) == 3
    with pytest.raises(ValueError, match="different"):
        tree_map(lambda a, b: a, tree, tree[:2])


def test_cpu_device_is_identity_for_numpy():
    tree = {"a": np.arange(3, dtype=np.float32)}
    assert to_device(tree, "cpu")["a"] is tree["a"]
    assert asnumpy(tree)["a"] is tree["a"]
    with pytest.raises(ValueError, match="'cpu' or 'gpu'"):
        to_device(tree, "tpu")


def test_gpu_request_fails_clearly_without_cupy_or_device(monkeypatch):
    monkeypatch.setattr(backend, "cupy_or_none", lambda: None)
    with pytest.raises(GPUUnavailableError, match="CuPy, which is not installed"):
        to_device({"a": np.zeros(1)}, "gpu")

    class FakeCupy:  # imports fine, but no device: cuda.is_available() is False
        class cuda:
            @staticmethod
            def is_available():
                return False

    monkeypatch.setattr(backend, "cupy_or_none", lambda: FakeCupy)
    assert not backend.gpu_available()
    with pytest.raises(GPUUnavailableError, match="no usable CUDA device"):
        to_device({"a": np.zeros(1)}, "gpu")


def _xp_attributes_used():
    """Every ``xp.<name>``, ``array_module(...).<name>`` and ``raw_module(...).<name>`` used in refimpl/."""
    names = set()
    for path in pathlib.Path(backend.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            v = node.value
            if (isinstance(v, ast.Name) and v.id == "xp") or (
                    isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id in ("array_module", "raw_module")):
                names.add(node.attr)
    return names


def test_scan_finds_the_names_we_know_we_use():
    used = _xp_attributes_used()
    assert {"tanh", "maximum", "mean", "concatenate", "zeros_like"} <= used


def test_every_xp_name_exists_in_cupy():
    cupy = pytest.importorskip("cupy")
    missing = sorted(n for n in _xp_attributes_used() if not hasattr(cupy, n))
    assert not missing, f"refimpl uses xp.{missing} which CuPy does not provide"
    assert hasattr(cupy.lib.stride_tricks, "as_strided")


@pytest.mark.gpu
def test_gpu_round_trip_when_available():
    if not backend.gpu_available():
        pytest.skip("no usable CUDA device")
    tree = {"a": np.arange(4, dtype=np.float32)}
    on_gpu = to_device(tree, "gpu")
    assert backend.is_cupy(on_gpu["a"])
    np.testing.assert_array_equal(asnumpy(on_gpu)["a"], tree["a"])
