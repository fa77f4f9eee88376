"""Golden cases of document ``thesis`` ch. 3 (SE-ResNeXt for C-NMC; ``refimpl.thesis.se_resnext``,
``refimpl.thesis.cnmc``).

The cases are :func:`refimpl.thesis.cnmc.golden_cases` (a grouped convolution, the SE module, one
bottleneck block in evaluation mode, the test-time-augmentation average, the metrics of a given
confusion), with their JSON lists turned into typed arrays and their bare results named. They have
no random draws of their own: the weights, statistics and inputs are written out.
"""
from __future__ import annotations

import numpy as np

from ..thesis import cnmc
from . import Kind, arrays, make_case

__all__ = ["KINDS", "cases", "tta_average"]

KINDS = {
    "grouped_conv2d": Kind(
        "grouped_conv2d(x, K, groups, padding, stride) -> y",
        "grouped 2-D cross-correlation without bias (Eq. 2.11; Eq. 3.1's K parallel paths as one layer), NCHW, "
        "K (C_out, C_in/groups, kh, kw) (PyTorch's layout): output channels g*C_out/G .. (g+1)*C_out/G - 1 see "
        "only input channels g*C_in/G .. (g+1)*C_in/G - 1; padding an int p (p zeros on every side), stride int"),
    "se_module": Kind(
        "se_module(u, W1, b1, W2, b2) -> s",
        "squeeze-and-excitation (Eqs. 3.3-3.5): z = global average pool of u (N, c, h, w) (Eq. 3.4), "
        "h = sigmoid(relu(z @ W1 + b1) @ W2 + b2) (Eq. 3.5; W1 (c, c/r), W2 (c/r, c)), s = u * h[:, :, None, None] "
        "(Eq. 3.3)"),
    "se_bottleneck": Kind(
        "se_bottleneck(u, params, state, groups, stride) -> v",
        "one SE-ResNeXt block in evaluation mode (Eqs. 3.1-3.2; Sec. 3.3): branch = BN(conv3(relu(BN(conv2(relu("
        "BN(conv1(u)))))))) with conv1, conv3 1x1, conv2 3x3 grouped (groups, stride, padding 1), convs without "
        "bias (W (C_out, C_in/groups, k, k)), BN with the running statistics (gamma, beta; state mean, var; eps "
        "1e-5); branch = se_module(branch) (params se: W1, b1, W2, b2); shortcut = BN(proj(u)) (1x1, stride) if "
        "params has 'proj', else u; v = relu(shortcut + branch) (the ReLU after the add is SE-ResNeXt's; Eq. 3.2 "
        "has none)"),
    "tta_average": Kind(
        "tta_average(per_rotation_logits) -> logits",
        "test-time augmentation (Sec. 3.4.2): the mean over the rotations (axis 0) of the logits "
        "per_rotation_logits (n_rotations, N); row j is the prediction for the images rotated by 360*j/n degrees"),
    "cnmc_metrics": Kind(
        "cnmc_metrics(y, logits) -> {accuracy, sensitivity, specificity, f1, precision, recall}",
        "the C-NMC metrics (Sec. 3.4) of the predictions logit > 0 (class 1, ALL, is positive): accuracy, "
        "sensitivity TP/(TP+FN), specificity TN/(TN+FP), and F1, precision and recall averaged over both classes "
        "weighted by their support (scikit-learn's average='weighted'; weighted recall = accuracy)"),
}

#: golden name -> (case name, kind, output name of a bare result, produced_by, description)
_SPEC = {
    "grouped_conv": ("grouped_conv2d_groups2", "grouped_conv2d", "y", "refimpl.nn.conv2d",
                     "x (1, 4, 4, 4), K (4, 2, 3, 3), 2 groups, padding 1, stride 1; standard normals"),
    "se_module": ("se_module", "se_module", "s", "refimpl.thesis.se_resnext.se_module",
                  "u (2, 4, 3, 3), reduction 2 (W1 (4, 2), W2 (2, 4)), Glorot weights and normal biases"),
    "bottleneck": ("se_bottleneck_projection_stride2", "se_bottleneck", "v", "refimpl.thesis.se_resnext.bottleneck",
                   "u (1, 4, 4, 4) -> v (1, 8, 2, 2): width 4, 2 groups, stride 2, SE reduction 4, a projection "
                   "shortcut; He-normal kernels, gamma 1, normal beta, running mean 0.1*normal, variance 1"),
    "tta_average": ("tta_average_8_rotations", "tta_average", "logits", "refimpl.thesis.cnmc.tta_logits",
                    "8 rotations of 3 images, the per-rotation logits given (standard normals)"),
    "metrics": ("cnmc_metrics_tp6_fn2_fp1_tn3", "cnmc_metrics", None, "refimpl.thesis.cnmc.metrics",
                "12 labels (8 positive), logits +-1 giving TP 6, FN 2, FP 1, TN 3"),
}


def tta_average(per_rotation_logits):
    """The average of :func:`refimpl.thesis.cnmc.tta_logits` when rotation j's predictions are row j
    of ``per_rotation_logits`` (a scripted ``predict``; the images themselves are not needed)."""
    per = np.asarray(per_rotation_logits, dtype=np.float64)
    rows = iter(per)
    mean, _ = cnmc.tta_logits(lambda _: next(rows), np.zeros((per.shape[1], 1, 2, 2)), n=per.shape[0])
    return mean


def _typed(name: str, inputs: dict) -> dict:
    """The inputs of a golden case of cnmc with arrays where the JSON had lists (labels as int64)."""
    if name == "metrics":
        return {"y": np.asarray(inputs["y"], dtype=np.int64), "logits": np.asarray(inputs["logits"], dtype=np.float64)}
    return {k: (arrays(v) if isinstance(v, (list, dict)) else v) for k, v in inputs.items()}


def cases() -> list[dict]:
    """Every ch. 3 case, in the order of :func:`refimpl.thesis.cnmc.golden_cases`."""
    out = []
    for golden in cnmc.golden_cases():
        name, kind, output, produced_by, description = _SPEC[golden["name"]]
        inputs = _typed(golden["name"], golden["inputs"])
        expected = golden["expected"]
        expected = {k: float(v) for k, v in expected.items()} if output is None else \
            {output: np.asarray(expected, dtype=np.float64)}
        if kind == "tta_average":       # the golden value is per.mean(axis=0): tta_logits must average the same
            assert np.array_equal(tta_average(inputs["per_rotation_logits"]), expected["logits"]), \
                "cnmc.tta_logits no longer averages the per-rotation logits"
        out.append(make_case(name, kind, f"thesis {golden['equation']}", produced_by, inputs, expected,
                             description=description))
    return out
