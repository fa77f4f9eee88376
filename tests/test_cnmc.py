"""Thesis ch. 3 (docs/thesis.md, "Chapter 3"): grouped convolution, SE module, SE-ResNeXt bottleneck,
the fine-tuning recipe (weighted loss, stage-wise learning rates, step schedule, augmentation,
test-time rotations) and the metrics."""
from __future__ import annotations

import numpy as np
import pytest

from refimpl import nn
from refimpl.autodiff import value_and_grad

RNG = np.random.default_rng(3)


def _numgrad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


# ---- grouped convolution (core) -------------------------------------------------------------

@pytest.mark.parametrize("groups,stride,padding", [(2, 1, "same"), (4, 2, 1), (3, 1, "valid"), (4, 2, "same")])
def test_grouped_conv_equals_separate_convolutions(groups, stride, padding):
    cin, cout = 12, 8 if groups != 3 else 6
    x = RNG.standard_normal((2, cin, 7, 6))
    K = RNG.standard_normal((cout, cin // groups, 3, 3))
    b = RNG.standard_normal(cout)
    got = nn.conv2d(x, K, b, stride=stride, padding=padding, groups=groups)
    ci, co = cin // groups, cout // groups
    want = np.concatenate([nn.conv2d(x[:, g * ci:(g + 1) * ci], K[g * co:(g + 1) * co], b[g * co:(g + 1) * co],
                                     stride=stride, padding=padding) for g in range(groups)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_grouped_conv_matches_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 8, 9, 9))
    K = RNG.standard_normal((12, 2, 3, 3))
    for stride, pad in ((1, 1), (2, 1), (2, 0)):
        got = nn.conv2d(x, K, stride=stride, padding=pad, groups=4)
        want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(K), stride=stride, padding=pad,
                                          groups=4).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_grouped_conv_gradients():
    x = RNG.standard_normal((2, 4, 5, 5))
    K = RNG.standard_normal((6, 2, 3, 3))
    w = RNG.standard_normal((2, 6, 3, 3))
    f = lambda p: np.sum(w * nn.conv2d(p["x"], p["K"], stride=2, padding=1, groups=2))  # noqa: E731
    _, g = value_and_grad(f)({"x": x, "K": K})
    p = {"x": x, "K": K}
    for k in p:
        np.testing.assert_allclose(g[k], _numgrad(lambda: f(p), p[k]), rtol=1e-6, atol=1e-7)


def test_grouped_conv_float32_and_groups1_unchanged():
    x = RNG.standard_normal((2, 4, 6, 6)).astype(np.float32)
    K = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32)
    assert nn.conv2d(x, K, groups=4).dtype == np.float32
    K1 = RNG.standard_normal((4, 4, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(nn.conv2d(x, K1, groups=1), nn.conv2d(x, K1))


def test_grouped_conv_bad_groups():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        nn.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((6, 2, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        nn.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 4, 3, 3)), groups=0)
    with pytest.raises(ValueError, match="2 groups"):
        nn.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 4, 3, 3)), groups=2)


def test_model_conv2d_groups():
    from refimpl.model import Conv2D, Flatten, Sequential
    m = Sequential((4, 6, 6), (Conv2D(8, 3, groups=2), Flatten()))
    assert m.param_shapes()[0]["W"] == (8, 2, 3, 3)
    p = m.init(0, dtype=np.float64)
    x = RNG.standard_normal((2, 4, 6, 6))
    np.testing.assert_allclose(m.apply(p, x).reshape(2, 8, 6, 6),
                               nn.conv2d(x, p[0]["W"], p[0]["b"], groups=2))
    with pytest.raises(ValueError, match="groups"):
        Sequential((3, 6, 6), (Conv2D(8, 3, groups=2),))
    with pytest.raises(ValueError, match="groups"):
        Conv2D(7, 3, groups=2)


# ---- SE module and bottleneck (Eqs. 3.1-3.5) -------------------------------------------------

from refimpl.thesis import cnmc, se_resnext as sx  # noqa: E402


def _f64(tree):
    from refimpl.backend import tree_map
    return tree_map(lambda a: np.asarray(a, np.float64), tree)


def test_se_module_equations_and_gradients():
    rng = np.random.default_rng(0)
    p = _f64(sx.se_init(rng, 6, 3))
    p["b1"], p["b2"] = rng.standard_normal(2), rng.standard_normal(6)
    u = rng.standard_normal((2, 6, 3, 4))
    g = u.mean(axis=(2, 3))                                                 # Eq. 3.4
    h = 1 / (1 + np.exp(-(np.maximum(g @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"])))  # Eq. 3.5
    np.testing.assert_allclose(sx.se_module(p, u), h[:, :, None, None] * u, rtol=1e-12)  # Eq. 3.3
    w = rng.standard_normal(u.shape)
    q = {**p, "u": u}
    f = lambda q: np.sum(w * sx.se_module(q, q["u"]))  # noqa: E731
    _, grad = value_and_grad(f)(q)
    for k in q:
        np.testing.assert_allclose(grad[k], _numgrad(lambda: f(q), q[k]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cin,cout,stride", [(4, 4, 1), (4, 8, 2)])
def test_bottleneck_gradients(cin, cout, stride):
    rng = np.random.default_rng(1)
    p, s = sx.bottleneck_init(rng, cin, 4, cout, groups=2, stride=stride, se_reduction=2, dtype=np.float64)
    u = rng.standard_normal((3, cin, 4, 4))
    w = rng.standard_normal((3, cout, 4 // stride, 4 // stride))
    f = lambda q: np.sum(w * sx.bottleneck(q["p"], s, q["u"], groups=2, stride=stride, training=True)[0])  # noqa: E731
    q = {"p": p, "u": u}
    _, grad = value_and_grad(f)(q)
    checks = [(grad["u"], q["u"]), (grad["p"]["conv2"]["W"], p["conv2"]["W"]), (grad["p"]["se"]["W1"], p["se"]["W1"]),
              (grad["p"]["conv3"]["gamma"], p["conv3"]["gamma"])]
    if "proj" in p:
        checks.append((grad["p"]["proj"]["W"], p["proj"]["W"]))
    for g, a in checks:
        np.testing.assert_allclose(g, _numgrad(lambda: f(q), a), rtol=1e-5, atol=1e-6)


def test_zero_initialised_residual_block_is_identity():
    rng = np.random.default_rng(2)
    p, s = sx.bottleneck_init(rng, 8, 4, 8, groups=2, se_reduction=2, zero_init_residual=True, dtype=np.float64)
    u = np.abs(rng.standard_normal((2, 8, 5, 5)))      # a ReLU output, as between blocks
    for training in (True, False):
        v, _ = sx.bottleneck(p, s, u, groups=2, training=training)
        np.testing.assert_array_equal(v, u)
    v, _ = sx.bottleneck(p, s, -u, groups=2, relu_after_add=False)  # Eq. 3.2 literally: v = u + s(0)
    np.testing.assert_array_equal(v, -u)


def test_mini_network_shapes_and_stage_groups():
    cfg = sx.mini()
    params, state = sx.init(cfg, 0)
    assert list(params) == sx.stage_names(cfg) == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    out, new = sx.apply(cfg, params, state, np.zeros((2, 1, 28, 28), np.float32), training=True)
    assert out.shape == (2,) and out.dtype == np.float32
    assert cnmc.stage_lr_scales(cfg) == {"stem": 1e-6, "stage1": 1e-6, "stage2": 1e-4, "stage3": 1e-4,
                                         "stage4": 1e-4, "head": 1e-2}
    cfg50 = sx.se_resnext50_32x4d()
    p50 = sx.bottleneck_init(np.random.default_rng(0), 64, 128, 256, groups=32)[0]
    assert p50["conv2"]["W"].shape == (128, 4, 3, 3) and p50["se"]["W1"].shape == (256, 16)
    assert [s[0] for s in cfg50.stages] == [3, 4, 6, 3]


# ---- the recipe (Sec. 3.4) -------------------------------------------------------------------

def test_param_groups_one_adam_step_by_hand():
    from refimpl.optim import Adam, ParamGroups
    params = {"a": {"W": np.array([1.0, -2.0])}, "b": [np.array([[0.5]])]}
    grads = {"a": {"W": np.array([0.3, -4.0])}, "b": [np.array([[2.0]])]}
    opt = ParamGroups(Adam(lr=1.0), {"a": 1e-6, "b": 1e-2})
    new, st = opt.update(params, grads, opt.init(params), lr_factor=0.1)
    # step 1: m̂ = g, v̂ = g², θ ← θ − η·g/(|g| + ε) with η = scale · η_base · lr_factor
    for key, scale in (("a", 1e-6), ("b", 1e-2)):
        old, g, got = (np.concatenate([np.ravel(t) for t in (
            [tree["W"]] if key == "a" else tree)]) for tree in (params[key], grads[key], new[key]))
        want = old - scale * 0.1 * g / (np.abs(g) + 1e-8)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert st["a"]["step"] == st["b"]["step"] == 1
    with pytest.raises(KeyError, match="no learning rate for"):
        opt.init({"a": params["a"]})


def test_step_schedule():
    from refimpl.optim import step_schedule
    assert [step_schedule(e) for e in range(6)] == [1, 1, 0.1, 0.1, pytest.approx(0.01), pytest.approx(0.01)]


def test_class_weight_direction():
    # Table 3.1: 7272 ALL (positive) and 3389 normal cells -> w = 0.466 < 1
    assert cnmc.class_weight(np.r_[np.ones(7272), np.zeros(3389)]) == pytest.approx(0.466, abs=1e-3)


def test_augment_and_crop():
    rng = np.random.default_rng(0)
    x = rng.random((3, 2, 12, 12)).astype(np.float32)
    a = cnmc.augment(x, 0, crop=8)
    assert a.shape == (3, 2, 8, 8) and a.dtype == np.float32
    np.testing.assert_array_equal(cnmc.augment(x, 5), cnmc.augment(x, 5))
    plain = cnmc.augment(x, 0, flips=False, rotate=False, translate=0.0)
    np.testing.assert_array_equal(plain, x)
    with pytest.raises(ValueError, match="crop"):
        cnmc.center_crop(x, 20)


def test_tta_of_rotation_invariant_model_equals_plain_prediction():
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 9, 9))
    predict = lambda b: 2.0 * b[:, 0, 4, 4] - 1.0   # noqa: E731 reads the rotation centre: invariant
    mean, per = cnmc.tta_logits(predict, x)
    np.testing.assert_allclose(mean, predict(x), rtol=1e-12)
    np.testing.assert_array_equal(per[0], predict(x))
    # global average pooling after a rotation-equivariant stack: 90° multiples exact
    mean4, _ = cnmc.tta_logits(lambda b: b.mean(axis=(1, 2, 3)), x, n=4)
    np.testing.assert_allclose(mean4, x.mean(axis=(1, 2, 3)), rtol=1e-12)


def test_metrics_equal_sklearn_and_weighted_recall_is_accuracy():
    from sklearn import metrics as skm
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 2, 50)
        logits = rng.standard_normal(50)
        m = cnmc.metrics(y, logits)
        pred = (logits > 0).astype(int)
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert m["f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
        assert m["precision"] == pytest.approx(skm.precision_score(y, pred, average="weighted"))
        assert m["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
        assert m["specificity"] == pytest.approx(skm.recall_score(1 - y, 1 - pred))
        assert m["recall"] == pytest.approx(m["accuracy"], abs=1e-15)


def test_subject_accuracy():
    acc = cnmc.subject_accuracy([1, 1, 0, 0], [1, -1, -1, -1], ["3", "3", "H1", "H1"])
    assert acc == {"3": 0.5, "H1": 1.0}


def test_finetune_runs_and_selects_best_checkpoint():
    rng = np.random.default_rng(0)
    cfg = sx.Config(in_channels=1, stem=(4, 3, 1), pool=0, stages=((1, 4, 8, 2),), groups=2, se_reduction=2)
    params, state = sx.init(cfg, 0)
    x = rng.random((12, 1, 8, 8)).astype(np.float32)
    y = np.r_[np.ones(8), np.zeros(4)].astype(np.int64)
    r = cnmc.finetune(cfg, params, state, x, y, x[:6], y[:6], lr_scales=cnmc.stage_lr_scales(cfg), seed=0,
                      config=cnmc.FinetuneConfig(epochs=2, batch_size=4, tta=4))
    assert [h["epoch"] for h in r["history"]] == [0, 1, 2] and r["w"] == 0.5
    best_f1 = max(h["tta"]["f1"] for h in r["history"])
    assert r["best"]["tta"][1]["f1"] == best_f1


# ---- data, weights, golden cases ------------------------------------------------------------

def test_cnmc_folder_errors(tmp_path):
    with pytest.raises(cnmc.CNMCNotFoundError, match="does not exist"):
        cnmc.find_cnmc(tmp_path / "nope")
    with pytest.raises(cnmc.CNMCNotFoundError, match="no fold_"):
        cnmc.find_cnmc(tmp_path)
    (tmp_path / "fold_0" / "all").mkdir(parents=True)
    with pytest.raises(cnmc.CNMCNotFoundError, match="hem"):
        cnmc.find_cnmc(tmp_path)


def test_cnmc_loader(tmp_path):
    from PIL import Image
    for cls, name in (("all", "UID_11_10_1_all.bmp"), ("hem", "UID_H10_43_1_hem.bmp")):
        (tmp_path / "fold_0" / cls).mkdir(parents=True)
        Image.fromarray(np.full((450, 450, 3), 200, np.uint8)).save(tmp_path / "fold_0" / cls / name)
    d = cnmc.find_cnmc(tmp_path)
    assert d["labels"].tolist() == [1, 0] and d["subjects"].tolist() == ["11", "H10"]
    imgs = cnmc.load_cnmc_images(d["paths"])
    assert imgs.shape == (2, 3, 300, 300) and abs(imgs.max() - 200 / 255) < 1e-6


def _fake_state_dict(cfg, params, state):
    """A state dict in the PyTorch se_resnext50_32x4d layout built from our own params."""
    sd = {}
    for path, conv, bn in cnmc._torch_names(cfg):
        try:
            p = params
            s = state
            for k in path:
                p, s = p[k], (s[k] if bn else None)
        except KeyError:
            continue
        if bn is None:
            sd[f"{conv}.fc1.weight"] = p["W1"].T[:, :, None, None]
            sd[f"{conv}.fc1.bias"], sd[f"{conv}.fc2.bias"] = p["b1"], p["b2"]
            sd[f"{conv}.fc2.weight"] = p["W2"].T[:, :, None, None]
        else:
            sd[f"{conv}.weight"], sd[f"{bn}.weight"], sd[f"{bn}.bias"] = p["W"], p["gamma"], p["beta"]
            sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"] = s["mean"], s["var"] + 1
    return sd


def test_weights_converter_roundtrip_and_shape_error():
    cfg = sx.mini()
    params, state = sx.init(cfg, 0)
    other, ostate = sx.init(cfg, 1)
    sd = _fake_state_dict(cfg, params, state)
    got, gstate = cnmc.convert_state_dict(sd, cfg, other, ostate)
    np.testing.assert_array_equal(got["stage2"][0]["conv2"]["W"], params["stage2"][0]["conv2"]["W"])
    np.testing.assert_array_equal(got["stage3"][0]["se"]["W2"], params["stage3"][0]["se"]["W2"])
    np.testing.assert_array_equal(gstate["stem"]["var"], state["stem"]["var"] + 1)
    np.testing.assert_array_equal(got["head"]["W"], other["head"]["W"])      # the head stays fresh
    sd["layer2.0.conv2.weight"] = np.zeros((3, 3, 3, 3))
    with pytest.raises(ValueError, match=r"'layer2.0.conv2.weight' has shape \(3, 3, 3, 3\)"):
        cnmc.convert_state_dict(sd, cfg, other, ostate)
    del sd["layer2.0.conv2.weight"]
    with pytest.raises(KeyError, match="layer2.0.conv2.weight"):
        cnmc.convert_state_dict(sd, cfg, other, ostate)


def test_golden_cases_reproduce():
    cases = {c["name"]: c for c in cnmc.golden_cases()}
    assert set(cases) == {"grouped_conv", "se_module", "bottleneck", "tta_average", "metrics"}
    c = cases["grouped_conv"]["inputs"]
    np.testing.assert_allclose(nn.conv2d(np.array(c["x"]), np.array(c["K"]), padding=1, groups=2),
                               cases["grouped_conv"]["expected"], rtol=1e-12)
    m = cases["metrics"]["expected"]
    assert m["sensitivity"] == 6 / 8 and m["specificity"] == 3 / 4 and m["accuracy"] == 9 / 12
    assert m["recall"] == pytest.approx(m["accuracy"])
    assert cnmc.golden_cases() == cnmc.golden_cases()


def test_finetune_uint8_images_with_input_scale():
    rng = np.random.default_rng(1)
    cfg = sx.Config(in_channels=1, stem=(4, 3, 1), pool=0, stages=((1, 4, 8, 2),), groups=2, se_reduction=2)
    params, state = sx.init(cfg, 0)
    x = rng.integers(0, 256, (8, 1, 8, 8)).astype(np.uint8)
    y = np.r_[np.ones(5), np.zeros(3)].astype(np.int64)
    kw = dict(lr_scales=cnmc.uniform_lr_scales(cfg, 1e-3), seed=0)
    a = cnmc.finetune(cfg, params, state, x, y, x, y, config=cnmc.FinetuneConfig(epochs=1, batch_size=4, tta=2,
                                                                                 input_scale=1 / 255, eval_batch=3), **kw)
    xf = x.astype(np.float32) * np.float32(1 / 255)
    b = cnmc.finetune(cfg, params, state, xf, y, xf, y, config=cnmc.FinetuneConfig(epochs=1, batch_size=4, tta=2), **kw)
    assert a["history"] == b["history"]


def _chapter():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chapters"))
    import thesis_ch3_cnmc
    return thesis_ch3_cnmc


def test_chapter_paper_scale_reports_missing_data_and_weights(tmp_path, capsys):
    ch = _chapter()
    # the chapter contract: nothing could run -> exit status 3, nothing written, each reason printed
    assert ch.main(["--scale", "paper", "--cnmc", str(tmp_path / "cnmc"), "--paper-batch", "0",
                    "--out", str(tmp_path / "out")]) == 3
    assert not (tmp_path / "out" / "results.json").exists()
    err = capsys.readouterr().err
    assert "skipped: C-NMC folder" in err and "skipped: no ImageNet weights" in err


def test_chapter_unknown_val_fold_is_a_command_line_error_before_any_work(tmp_path, capsys):
    ch = _chapter()
    for fold in ("fold_0", "fold_1"):
        for cls, uid in (("all", "UID_1"), ("hem", "UID_H2")):
            (tmp_path / "cnmc" / fold / cls).mkdir(parents=True)
            (tmp_path / "cnmc" / fold / cls / f"{uid}_1_1_{cls}.bmp").write_bytes(b"")   # only the names are read
    with pytest.raises(SystemExit) as exc:
        ch.main(["--scale", "paper", "--cnmc", str(tmp_path / "cnmc"), "--paper-batch", "0", "--val-fold", "fold_7",
                 "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"argument --val-fold: no fold 'fold_7' in {tmp_path / 'cnmc'}; choose from fold_0, fold_1" in err
    assert not (tmp_path / "out").exists()


def test_converted_torch_se_resnext_gives_the_same_features():
    """A small network in the PyTorch `se_resnext50_32x4d` layout (stem conv 7×7/2 pad 3, BN, ReLU,
    MaxPool 3×3/2 ceil_mode; SE-ResNeXt bottlenecks with the stride on the grouped 3×3, SE as 1×1
    convolutions, 1×1 downsample + BN), in evaluation mode: after conversion our features match."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(0)

    class Block(tnn.Module):
        def __init__(self, cin, width, cout, groups, stride, r):
            super().__init__()
            self.conv1, self.bn1 = tnn.Conv2d(cin, width, 1, bias=False), tnn.BatchNorm2d(width)
            self.conv2 = tnn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
            self.bn2 = tnn.BatchNorm2d(width)
            self.conv3, self.bn3 = tnn.Conv2d(width, cout, 1, bias=False), tnn.BatchNorm2d(cout)
            self.se_module = tnn.Module()
            self.se_module.fc1, self.se_module.fc2 = tnn.Conv2d(cout, cout // r, 1), tnn.Conv2d(cout // r, cout, 1)
            self.downsample = (tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride=stride, bias=False), tnn.BatchNorm2d(cout))
                               if stride != 1 or cin != cout else None)

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            s = torch.sigmoid(self.se_module.fc2(torch.relu(self.se_module.fc1(out.mean((2, 3), keepdim=True)))))
            res = x if self.downsample is None else self.downsample(x)
            return torch.relu(out * s + res)

    cfg = sx.Config(in_channels=3, stem=(8, 7, 2), pool=3, stages=((2, 8, 16, 1), (1, 16, 32, 2)), groups=4,
                    se_reduction=4)
    net = tnn.Module()
    net.layer0 = tnn.Module()
    net.layer0.conv1, net.layer0.bn1 = tnn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False), tnn.BatchNorm2d(8)
    net.layer1 = tnn.Sequential(Block(8, 8, 16, 4, 1, 4), Block(16, 8, 16, 4, 1, 4))
    net.layer2 = tnn.Sequential(Block(16, 16, 32, 4, 2, 4))
    for m in net.modules():                      # non-trivial BN statistics and affine parameters
        if isinstance(m, tnn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)
    net.eval()
    x = torch.rand(2, 3, 30, 30, dtype=torch.float64)   # odd stem output (15): ceil_mode matters
    net.double()
    with torch.no_grad():
        y = tnn.functional.max_pool2d(torch.relu(net.layer0.bn1(net.layer0.conv1(x))), 3, 2, ceil_mode=True)
        want = net.layer2(net.layer1(y)).mean((2, 3)).numpy()
    sd = {k: v.numpy() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    params, state = cnmc.convert_state_dict(sd, cfg, *sx.init(cfg, 0, dtype=np.float64))
    got, _ = sx.features(cfg, params, state, x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # the ceil-mode stem pool and its gradient (−inf padding never selected)
    z = np.random.default_rng(0).standard_normal((1, 2, 15, 14))
    assert sx.max_pool_ceil(z, 3, 2).shape == (1, 2, 7, 7)
    g = value_and_grad(lambda z: np.sum(sx.max_pool_ceil(z, 3, 2)))(z)[1]
    assert np.isfinite(g).all() and g.sum() == 2 * 7 * 7


def test_param_groups_per_layer_in_fit():
    from refimpl.model import mlp
    from refimpl.optim import Adam, ParamGroups
    from refimpl.train import fit
    model = mlp((4,), [3], 2)
    params = model.init(0)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    y = np.arange(8) % 2
    assert len(params) == 2
    opt = ParamGroups(Adam(lr=1.0), {0: 1e-12, 1: 1e-2})   # hidden layer (almost frozen), output layer
    r = fit(model, params, x, y, epochs=1, batch_size=8, optimizer=opt, progress=False)
    assert np.max(np.abs(r.params[0]["W"] - params[0]["W"])) <= 1e-7   # float32 rounding of a 1e-12 step
    np.testing.assert_allclose(np.abs(r.params[1]["W"] - params[1]["W"]), 1e-2, rtol=1e-3)  # one step: η·sign(g)
