"""A case adapter that wraps refimpl itself: every case kind, so that ``check_cases`` passes all cases.

It is the self-check of the case machinery (encode -> JSON -> decode -> adapter -> compare) and a
worked example of the adapter interface: one function per case kind, named like the kind, taking the
case's inputs as keyword arguments and returning its outputs (a dict, or a bare value when the case
has one output). Where refimpl draws random numbers itself (Net2WiderNet's sources, the EA's draws,
the unit-norm initialisation's normals), the adapter applies the given draws directly.
"""
from __future__ import annotations

import numpy as np

from refimpl import accountability as acc
from refimpl import extremal as ex
from refimpl import interval as iv
from refimpl import nn
from refimpl import surgery as sg
from refimpl.cases import network, unpack
from refimpl.cases.accountability import ScriptedDraws, quadratic_accuracy
from refimpl.cases.thesis import generation_from_draws
from refimpl.cases.thesis_ch3 import tta_average as ch3_tta_average
from refimpl.cases.thesis_ch7 import nas_child
from refimpl.optim import SGD, Adam, Adamax, AdamW
from refimpl.thesis import atari_net as an
from refimpl.thesis import cnmc
from refimpl.thesis import se_resnext as sx
from refimpl.thesis import ea, nes, routed
from refimpl.thesis import operators as ops

# ---------------------------------------------------------------------------------------- core


def dense(x, W, b):
    return nn.dense(x, W, b)


def conv2d(x, W, b, stride, padding):
    return nn.conv2d(x, W, b, stride=stride, padding=padding)


def max_pool2d(x, size, stride, padding):
    return nn.max_pool2d(x, size, stride, padding)


def avg_pool2d(x, size, stride, padding):
    return nn.avg_pool2d(x, size, stride, padding)


def global_avg_pool2d(x):
    return nn.global_avg_pool2d(x)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    y, m, v = nn.batch_norm(x, gamma, beta, running_mean, running_var, training=training, momentum=momentum, eps=eps)
    return {"y": y, "running_mean": m, "running_var": v}


def activation(name, x):
    return nn.get_activation(name)(x)


def cross_entropy(logits, labels):
    return nn.cross_entropy(logits, labels)


def mse(pred, target):
    return nn.mse(pred, target)


def weighted_binary_cross_entropy(logit, y, w):
    return nn.weighted_binary_cross_entropy(logit, y, w)


def sgd(param, grad, velocity, lr, momentum, nesterov):
    opt = SGD(lr=lr, momentum=momentum, nesterov=nesterov)
    p, st = opt.update(param, grad, {"step": 0, "velocity": velocity.copy() if momentum else None})
    return {"param": p, "velocity": st["velocity"] if momentum else np.zeros_like(param)}


def _adam(opt, param, grad, m, second, key, step):
    p, st = opt.update(param, grad, {"step": step, "m": m.copy(), key: second.copy()})
    return {"param": p, "m": st["m"], key: st[key]}


def adam(param, grad, m, v, step, lr, beta1, beta2, eps):
    return _adam(Adam(lr, beta1, beta2, eps), param, grad, m, v, "v", step)


def adamw(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    return _adam(AdamW(lr, beta1, beta2, eps, weight_decay), param, grad, m, v, "v", step)


def adamax(param, grad, m, u, step, lr, beta1, beta2, eps):
    return _adam(Adamax(lr, beta1, beta2, eps), param, grad, m, u, "u", step)

# ------------------------------------------------------------------------------------ interval


def _enc(x):
    return (x.lo, x.hi)


def interval_sec23(x1, x2):
    X1, X2 = iv.Interval(*x1), iv.Interval(*x2)
    Y = iv.sin(X1 * X2)
    Y.backward()
    return {"y": _enc(Y), "x1_adjoint": _enc(X1.adjoint), "x2_adjoint": _enc(X2.adjoint)}


def interval_forward(weights, biases, activations, lo, hi, output):
    values, Y = iv.interval_forward(*network(weights, biases, activations), iv.Interval(lo, hi), output=output)
    return {"values": [_enc(v) for v in values], "output": _enc(Y)}


def interval_significance(weights, biases, activations, lo, hi, output):
    model, params = network(weights, biases, activations)
    box = iv.Interval(lo, hi)
    values, Y = iv.interval_forward(model, params, box, output=output)
    adjoints = []
    for k in range(Y.shape[0]):
        Y.backward(np.eye(Y.shape[0])[k])
        adjoints.append([_enc(v.adjoint) for v in values])
    an = iv.analyse(model, params, box, output=output)
    return {"adjoints": adjoints, "adjoint_magnitude": an.adjoint_magnitude, "significance": an.significance}


def remove_nodes(weights, biases, remove, midpoints):
    model, params = network(weights, biases, ["linear"] * len(weights))
    pr = iv.remove_nodes(model, params, dict(enumerate(remove)), midpoints)
    return {**unpack(pr.model, pr.params), "kept": pr.kept}


def prune(weights, biases, scores, midpoints, layers, fraction):
    model, params = network(weights, biases, ["linear"] * len(weights))
    pr = iv.prune(model, params, scores, midpoints, layers=layers, fraction=fraction)
    return {**unpack(pr.model, pr.params), "kept": pr.kept}

# ------------------------------------------------------------------------------------- surgery


def add_neurons(weights, biases, activations, layer, sources, split):
    """Net2WiderNet with the given sources (refimpl draws them itself, so this is written out)."""
    W, b, W2 = weights[layer], biases[layer], weights[layer + 1]
    n = W.shape[1]
    c = 1 + np.bincount(sources, minlength=n)
    cols = np.concatenate([np.arange(n), sources])
    W_new, b_new, W2_new = W[:, cols], b[cols], W2[cols, :]
    if split == "outgoing":
        W2_new = W2_new / c[cols][:, None]
    else:
        W_new, b_new = W_new / c[cols][None, :], b_new / c[cols]
    weights, biases = list(weights), list(biases)
    weights[layer], biases[layer], weights[layer + 1] = W_new, b_new, W2_new
    return {"weights": weights, "biases": biases}


def add_layer(weights, biases, activations, after, activation):
    return unpack(*sg.add_layer(*network(weights, biases, activations), after, activation=activation))


def remove_neurons(weights, biases, activations, layer, n_remove):
    return unpack(*sg.remove_neurons(*network(weights, biases, activations), layer, n_remove))


def truncate(weights, biases, activations, layer, rank):
    return unpack(*sg.truncate(*network(weights, biases, activations), layer, rank))


def remove_layer(weights, biases, activations, layer):
    return unpack(*sg.remove_layer(*network(weights, biases, activations), layer))


def removable_count(W, eps1, eps2):
    return sg.removable_count(W, eps1, eps2)


def recommend(weights, biases, activations):
    return [{"operation": p.operation, "layer": p.layer, "amount": p.amount, "score": p.score, "n_params": p.n_params}
            for p in sg.recommend(*network(weights, biases, activations))]


def eq16_score(a, delta_a, f):
    return sg.eq16_score(a, delta_a, f)

# ------------------------------------------------------------------------------ accountability


def shift_initialization(weights, biases, offsets):
    model, params = network(weights, biases, ["linear"] * len(weights))
    out = unpack(model, acc.shift_initialization(model, params, offsets))
    return {"weights": out["weights"], "biases": out["biases"]}


def asa_step(current_loss, new_loss, p_draw, exit_rule):
    accs = iter([1.0 - current_loss, 1.0 - new_loss])
    res = acc.asa_search(lambda s, o: next(accs), 1, 0.1, intent=acc.UserIntent(max_trial=2),
                         rng=ScriptedDraws([p_draw]), exit_rule=exit_rule)
    t = res.trials[1]
    return {"obj": t.obj, "P": t.P, "decision": t.decision}


def asa_walk(objective, n_layers, delta, draws, max_trial, domain, exit_rule):
    res = acc.asa_search(quadratic_accuracy(objective), n_layers, delta, intent=acc.UserIntent(max_trial=max_trial),
                         weight_domain=tuple(domain), bias_domain=tuple(domain), rng=ScriptedDraws(draws),
                         exit_rule=exit_rule)
    trials = [{"layer": t.layer, "offsets": np.array(t.offsets), "accuracy": t.accuracy, "obj": t.obj, "P": t.P,
               "P_draw": t.P_draw, "decision": t.decision} for t in res.trials]
    return {"trials": trials, "stop_reason": res.stop_reason, "best_accuracy": res.best_accuracy, "gain": res.gain}


def expected_restart_gain(first, pool, budget):
    return acc.expected_restart_gain(first, pool, budget)

# ------------------------------------------------------------------------------- thesis ch. 3


def grouped_conv2d(x, K, groups, padding, stride):
    return nn.conv2d(x, K, stride=stride, padding=padding, groups=groups)


def se_module(u, W1, b1, W2, b2):
    return sx.se_module({"W1": W1, "b1": b1, "W2": W2, "b2": b2}, u)


def se_bottleneck(u, params, state, groups, stride):
    return sx.bottleneck(params, state, u, groups=groups, stride=stride, training=False)[0]


def tta_average(per_rotation_logits):
    return ch3_tta_average(per_rotation_logits)


def cnmc_metrics(y, logits):
    return cnmc.metrics(y, logits)

# -------------------------------------------------------------------------------------- thesis


def uniform_crossover(x1, x2, mask):
    return np.where(mask, x1, x2)


def arithmetic_crossover(x1, x2, w):
    return ops.arithmetic_crossover(x1, x2, w=w)


def normal_mutation(x, sigma, noise):
    return x + np.reshape(sigma, (-1, 1) if np.ndim(sigma) else ()) * noise


def decayed_sigma(sigma0, generation, k):
    return ops.decayed_sigma(sigma0, generation, k)


def self_adapt_sigma(sigma, tau, eps):
    return sigma * np.exp(tau * eps)


def inherit_fitness(inherited, evaluated, alpha):
    return ops.inherit_fitness(inherited, evaluated, alpha)


def truncation_selection(fitness, n):
    return ops.truncation_selection(fitness, n)


def plus_selection(parent_fitness, offspring_fitness, mu):
    return ops.plus_selection(parent_fitness, offspring_fitness, mu)


def offspring_counts(lam, p_elite, p_crossover, p_mutation):
    return list(ops.offspring_counts(lam, p_elite, p_crossover, p_mutation))


def n_truncation(lam, rho):
    return ops.n_truncation(lam, rho)


def ea_generation(weights, biases, activations, sigma, inherited, x, y, config, draws):
    model, _ = network(weights, biases, activations)
    pop = [{"W": W, "b": b} for W, b in zip(weights, biases)]
    cfg = ea.EAConfig(batch_size=len(y), **config)
    out = generation_from_draws(model, pop, sigma, inherited, x, y, cfg, draws)
    return {"loss": out["loss"], "fitness": out["fitness"], "weights": [p["W"] for p in out["population"]],
            "biases": [p["b"] for p in out["population"]], "sigma": out["sigma"], "inherited": out["inherited"]}

# ----------------------------------------------------------------------------- thesis ch. 6-8


class _Draws:
    """A stand-in generator that hands out given draws (refimpl's initialiser draws them itself)."""

    def __init__(self, draws):
        self.draws = draws

    def standard_normal(self, shape):
        assert tuple(shape) == self.draws.shape
        return self.draws


def unit_norm_normal(draws):
    return nn.unit_norm_normal(_Draws(draws), draws.shape)


def mutation_step(theta, sigma, noise):
    return np.asarray(theta, np.float32) + np.float32(sigma) * np.asarray(noise, np.float32)


def _atari_spec(weights, strides, in_shape):
    """The NetSpec whose layers have these shapes and strides."""
    for net in an.NETS:
        spec = an.NetSpec(int(weights[-1].shape[1]), net, tuple(in_shape))
        try:
            layers = spec.layers()
        except ValueError:
            continue
        if [ws for _, ws, _, _ in layers] == [W.shape for W in weights] and \
                [s for kind, _, _, s in layers if kind == "conv"] == list(strides):
            return spec
    raise ValueError("no atari_net.NETS network has these layers")


def atari_forward(weights, biases, strides, obs):
    spec = _atari_spec(weights, strides, obs.shape[1:])
    theta = np.concatenate([a.ravel() for W, b in zip(weights, biases) for a in (W, b)]).astype(np.float32)
    return an.forward(spec, theta, obs.astype(np.uint8))


def genome_theta(net, n_actions, in_shape, genome, sigma, indices):
    return an.GenomeBuilder(an.NetSpec(n_actions, net, tuple(in_shape)), sigma).build(genome)[indices]


def nas_mutation(space, parent, parent_weights, mutation, reinit):
    return nas_child(space, parent, parent_weights, mutation, reinit)


def rank_utilities(losses):
    return {"average": nes.rank_utilities(losses), "first": nes.rank_utilities(losses, ties="first")}


def nes_update(pi, samples, losses, lr, p_min):
    u = nes.rank_utilities(losses)
    return {"utilities": u, "pi": nes.update(pi, samples, u, lr, p_min=p_min),
            "mu": nes.update(nes.expectation_parameters(pi), samples, u, lr, p_min=p_min, form="expectation")}


def _routed_net(net):
    blocks = [getattr(routed, b["type"])(**{k: v for k, v in b.items() if k != "type"}) for b in net["blocks"]]
    return routed.RoutedNet(tuple(net["input_shape"]), tuple(blocks), tuple(net["routing"]), tuple(net["n_classes"]),
                            net["n_modules"], net["head_pool"])


def routed_forward(net, params, state, xs, assignment):
    model = _routed_net(net)
    logits_eval, _ = routed.apply(model, params, state, xs, assignment)
    logits_train, new_state = routed.apply(model, params, state, xs, assignment, training=True)
    return {"logits_eval": logits_eval, "logits_train": logits_train, "state_after_train": new_state}

# ------------------------------------------------------------------------------------ extremal


def maximization_loss(y, kappa):
    return ex.maximization_loss(y, kappa)


def minimization_loss(y):
    return ex.minimization_loss(y)


def positive_output_loss(y, kappa2, kappa_hat):
    return ex.positive_output_loss(y, kappa2, kappa_hat)


def extrapolation_loss(x, mu, sigma, c, kappa1, upper):
    return ex.extrapolation_loss(x, mu, sigma, c, kappa1, upper=upper)


def positive_input_loss(x, kappa3, mask):
    return ex.positive_input_loss(x, kappa3, mask)


def total_loss(x, y, mu, sigma, c, kappa1, kappa2, kappa_hat):
    return ex.positive_output_loss(y, kappa2, kappa_hat) + ex.extrapolation_loss(x, mu, sigma, c, kappa1)


def extremize_gd(weights, biases, activations, x0, kappa, lr, steps):
    res = ex.extremize(*network(weights, biases, activations), x0, objective="max", kappa=kappa,
                       optimizer=SGD(lr=lr), steps=steps)
    return {"x": res.x, "y": res.y, "loss": res.loss}


def milp_maximum(weights, biases, activations, lo, hi, output_index):
    r = ex.maximize_relu_network(*network(weights, biases, activations), lo, hi, output_index=output_index)
    return {"value": r.value, "x": r.x}
