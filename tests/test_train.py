"""Training loop: learns digits, deterministic, fails loudly on NaN and bad shapes."""
import numpy as np
import pytest

from refimpl import data
from refimpl.model import cnn, mlp
from refimpl.optim import SGD, Adam
from refimpl.train import TrainingDivergedError, evaluate, fit, predict


@pytest.fixture(scope="module")
def digits():
    return data.load_digits(seed=0)


def test_mlp_reaches_95_percent_on_digits(digits):
    m = mlp((1, 8, 8), [128], 10)
    r = fit(m, m.init(0), digits.x_train, digits.y_train, epochs=30, batch_size=32, progress=False,
            validation=(digits.x_test, digits.y_test))
    test = evaluate(m, r.params, digits.x_test, digits.y_test)
    assert test["accuracy"] >= 0.95
    assert test["accuracy"] == pytest.approx(r.history["val_accuracy"][-1])
    assert r.history["loss"][-1] < r.history["loss"][0]
    assert len(r.history["seconds"]) == 30


def test_same_seed_same_run(digits):
    m = mlp((1, 8, 8), [16], 10)
    x, y = digits.x_train[:200], digits.y_train[:200]
    a = fit(m, m.init(1), x, y, epochs=2, batch_size=16, seed=7, progress=False)
    b = fit(m, m.init(1), x, y, epochs=2, batch_size=16, seed=7, progress=False)
    c = fit(m, m.init(1), x, y, epochs=2, batch_size=16, seed=8, progress=False)
    assert a.history["loss"] == b.history["loss"] and a.history["loss"] != c.history["loss"]
    np.testing.assert_array_equal(a.params[-1]["W"], b.params[-1]["W"])
    d = fit(m, m.init(1), x, y, epochs=2, batch_size=16, seed=7, shuffle=False, progress=False)
    e = fit(m, m.init(1), x, y, epochs=2, batch_size=16, seed=8, shuffle=False, progress=False)
    assert d.history["loss"] == e.history["loss"] != a.history["loss"]  # fixed order ignores the seed


def test_batchnorm_cnn_trains_and_updates_running_statistics(digits):
    m = cnn((1, 8, 8), [8], 10)
    state0 = m.init_state()
    r = fit(m, m.init(0), digits.x_train[:256], digits.y_train[:256], epochs=2, batch_size=64,
            state=state0, optimizer=Adam(1e-2), progress=False)
    assert not np.allclose(r.state[1]["mean"], state0[1]["mean"])
    assert predict(m, r.params, digits.x_test[:10], state=r.state).shape == (10, 10)


def test_regression_with_mse_has_no_accuracy():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    y = (x[:, :1] * 2 - x[:, 1:]).astype(np.float32)
    m = mlp(2, [], 1)
    r = fit(m, m.init(0), x, y, epochs=40, batch_size=32, loss="mse", optimizer=SGD(0.1), progress=False)
    assert r.history["accuracy"][-1] is None
    assert evaluate(m, r.params, x, y, loss="mse")["loss"] < 1e-4
    np.testing.assert_allclose(r.params[0]["W"][:, 0], [2, -1], atol=1e-2)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the overflow is the point
def test_nan_loss_stops_with_the_parameters_reached(digits):
    m = mlp((1, 8, 8), [8], 10)
    x = digits.x_train[:64].copy()
    x[3] = 3e38                                # finite, but its sums overflow: ∞ − ∞, a NaN loss
    p0 = m.init(0)
    with pytest.raises(TrainingDivergedError, match="loss became nan at epoch 0, batch 0") as e:
        fit(m, p0, x, digits.y_train[:64], epochs=1, batch_size=64, progress=False)
    assert isinstance(e.value, FloatingPointError)
    np.testing.assert_array_equal(e.value.params[1]["W"], p0[1]["W"])


def test_bad_input_is_rejected(digits):
    m = mlp((1, 8, 8), [8], 10)
    p = m.init(0)
    with pytest.raises(ValueError, match="200 examples but its targets have 100"):
        fit(m, p, digits.x_train[:200], digits.y_train[:100], progress=False)
    with pytest.raises(ValueError, match=r"per-example shape \(64,\)"):
        fit(m, p, digits.x_train[:10].reshape(10, 64), digits.y_train[:10], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(m, p, digits.x_train, digits.y_train, batch_size=0, progress=False)
    x_nan = digits.x_train[:10].copy()
    x_nan[2, 0, 1, 1] = np.nan
    for call in (lambda: fit(m, p, x_nan, digits.y_train[:10], progress=False),
                 lambda: evaluate(m, p, x_nan, digits.y_train[:10]),
                 lambda: fit(m, p, digits.x_train[:10], digits.y_train[:10], progress=False,
                             validation=(x_nan, digits.y_train[:10]))):
        with pytest.raises(ValueError, match="NaN or infinite"):
            call()
    p_nan = m.init(0)
    p_nan[1]["W"][0, 0] = np.inf
    with pytest.raises(ValueError, match="parameter array contains NaN or infinite"):
        fit(m, p_nan, digits.x_train[:10], digits.y_train[:10], progress=False)
    with pytest.raises(ValueError, match="no examples"):
        fit(m, p, digits.x_train[:0], digits.y_train[:0], progress=False)
    with pytest.raises(ValueError, match="no examples"):
        evaluate(m, p, digits.x_train[:0], digits.y_train[:0])
    with pytest.raises(TypeError, match="complex"):
        fit(m, p, digits.x_train[:10] + 1j, digits.y_train[:10], progress=False)
    with pytest.raises(TypeError, match="integer class indices"):    # 0.9 would be read as class 0
        fit(m, p, digits.x_train[:10], digits.y_train[:10] + 0.5, progress=False)
    with pytest.raises(TypeError, match="integer class indices"):
        evaluate(m, p, digits.x_train[:10], digits.y_train[:10].astype(float))
    with pytest.raises(ValueError, match="batch_size"):
        predict(m, p, digits.x_train[:10], batch_size=0)
    with pytest.raises(ValueError, match="unknown loss"):
        fit(m, p, digits.x_train, digits.y_train, loss="hinge", progress=False)
    bad = digits.y_test.copy()
    bad[-1] = 10                       # labels are checked once, before any step or batch
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\), got range \[0, 10\]"):
        fit(m, p, digits.x_train, digits.y_train, validation=(digits.x_test, bad), progress=False)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        evaluate(m, p, digits.x_test, bad)


def test_predict_of_no_examples_is_empty():
    m = mlp(4, [3], 2)
    assert predict(m, m.init(0), np.zeros((0, 4), np.float32)).shape == (0, 2)


@pytest.mark.data
@pytest.mark.slow
def test_fashion_mnist_784_500_500_10_sigmoid_adam_two_epochs():
    """Acceptance: >= 84% test accuracy after 2 epochs of Adam (about 20 s on 2 cores)."""
    try:
        ds = data.load_fashion_mnist()
    except data.DatasetNotFoundError as e:
        pytest.skip(str(e).splitlines()[0])
    m = mlp((1, 28, 28), [500, 500], 10, activation="sigmoid")
    r = fit(m, m.init(0), ds.x_train, ds.y_train, epochs=2, batch_size=128, progress=False)
    acc = evaluate(m, r.params, ds.x_test, ds.y_test)["accuracy"]
    print(f"Fashion-MNIST 784-500-500-10 sigmoid, Adam, 2 epochs: test accuracy {acc:.4f}")
    assert acc >= 0.84
