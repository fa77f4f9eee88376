"""The device code paths on the CPU, with the CuPy stand-in of ``fake_cupy.py``.

No GPU is needed: the stand-in's arrays refuse implicit conversion to NumPy and mixing with host
arrays, as CuPy's do, and count every read back to the host. So these tests show, on any
machine, that the batched paths keep their arrays on the device (the ``device_cases`` run
with the stand-in), and how often each waits for the device. ``test_gpu.py`` runs the same
cases on a real GPU.
"""
import numpy as np
import pytest

import device_cases
import fake_cupy
from refimpl import backend, nn
from refimpl.backend import array_module, is_gpu_module, to_device, tree_leaves
from refimpl.model import mlp
from refimpl.thesis import ea, population
from refimpl.train import evaluate


@pytest.fixture
def cp(monkeypatch):
    return fake_cupy.install(monkeypatch)


def reads():
    return fake_cupy.READS["count"]


def test_the_stand_in_behaves_like_cupy_where_it_matters(cp):
    a = cp.asarray(np.arange(3.0))
    assert backend.is_cupy(a) and array_module(a) is cp and is_gpu_module(cp) and backend.gpu_available()
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        a + np.ones(3)
    assert backend.is_cupy(a * 2 + 1) and backend.is_cupy(cp.sum(a))
    n = reads()
    float(cp.sum(a))
    assert reads() == n + 1


@pytest.mark.parametrize("case", device_cases.CASES, ids=lambda f: f.__name__)
def test_device_paths_with_the_stand_in(cp, case):
    case(cp)


def test_losses_never_wait_for_the_device(cp):
    rng = np.random.default_rng(0)
    logits, labels = to_device([rng.standard_normal((4, 64, 10)).astype(np.float32), rng.integers(0, 10, 64)], "gpu")
    target = to_device(rng.standard_normal((64, 10)).astype(np.float32), "gpu")
    n = reads()
    for _ in range(3):
        nn.cross_entropy(logits, labels)
        nn.accuracy(logits, labels)
        nn.mse(logits, target)
        nn.weighted_binary_cross_entropy(logits[..., 0], labels % 2)
    assert reads() == n   # no label range check (int(labels.min())) per call on the device


def test_evaluate_reads_back_a_fixed_number_of_values_whatever_the_batches(cp):
    """evaluate neither converts the labels with np.asarray (the stand-in would raise) nor reads
    per batch: whether x is finite and the label range (min, max) once, then the loss and the
    accuracy."""
    rng = np.random.default_rng(1)
    m = mlp((1, 8, 8), [16], 10)
    x, y = rng.random((500, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 500)
    params, dx, dy = to_device([m.init(0), x, y], "gpu")
    counts = []
    for batch_size in (500, 50):
        n = reads()
        r = evaluate(m, params, dx, dy, batch_size=batch_size)
        counts.append(reads() - n)
        assert r == pytest.approx(evaluate(m, m.init(0), x, y), rel=1e-5)
    assert counts == [5, 5]


def test_one_generation_reads_back_only_the_losses(cp):
    m = population.thesis_network((1, 6, 6), pool=1, hidden=(16,), n_out=5)
    cfg = ea.EAConfig(population_size=20, batch_size=32)
    rng = np.random.default_rng(2)
    x, y = to_device([rng.standard_normal((32, 1, 6, 6)).astype(np.float32), rng.integers(0, 5, 32)], "gpu")
    state = ea.init_ea(m, cfg, 0, device="gpu")
    n = reads()
    state, info = ea.generation(m, state, x, y, cfg)
    assert reads() == n + 1                            # the (λ,) losses, all individuals in one pass
    assert all(backend.is_cupy(a) for a in tree_leaves(state.population))
    n = reads()
    population.evaluate_population(m, state.population, x, y, chunk_size=6)
    assert reads() == n + 4                            # one per chunk: ⌈20 / 6⌉


def test_fit_refuses_device_arrays_clearly(cp):
    from refimpl.train import fit
    m = mlp(4, [3], 2)
    x, y = to_device([np.zeros((8, 4), np.float32), np.zeros(8, np.int64)], "gpu")
    with pytest.raises(TypeError, match="NumPy arrays only"):
        fit(m, m.init(0), x, y, progress=False)
