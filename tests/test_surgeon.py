"""Tests of the Surgeon (Schiessler et al. 2021, Algorithm 1, Sec. 3.3) on a tiny digits subset."""
import copy
from collections import defaultdict

import numpy as np
import pytest

from refimpl import nn, surgery
from refimpl.model import mlp
from refimpl.surgery import SurgeonConfig, surgeon, topology, train_baseline


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits
    d = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(d.target))[:360]
    x = (d.images[idx] / 16.0).astype(np.float32)[:, None]
    y = d.target[idx].astype(np.int64)
    return x[:240], y[:240], x[240:], y[240:]


CFG = SurgeonConfig(epochs=5, pretrain_epochs=1, decision_every=1, recovery_unit=1, batch_size=16, lr=0.05)


@pytest.fixture(scope="module")
def run(data):
    model = mlp((1, 8, 8), [10, 10], 10)
    params = model.init(3)
    before = copy.deepcopy(params)
    res = surgeon(model, params, *data, CFG, seed=7)
    return model, params, before, res


def test_surgeon_is_seeded_and_does_not_modify_its_input(data, run):
    model, params, before, res = run
    for p, q in zip(params, before):
        for k in p:
            np.testing.assert_array_equal(p[k], q[k])
    again = surgeon(model, params, *data, CFG, seed=7)
    assert again.log == res.log
    assert topology(again.model) == topology(res.model)


def test_log_follows_the_documented_schema(run):
    import json
    _, _, _, res = run
    for d in res.log:
        assert set(d) == set(surgery.DECISION_LOG_KEYS)
        for c in d["candidates"]:
            assert set(c) == set(surgery.CANDIDATE_LOG_KEYS)
            assert (c["new_branch"] is not None) == c["winner"]
        assert sorted(d["new_branches"]) == sorted(c["new_branch"] for c in d["candidates"] if c["winner"])
        assert set(d["kept_branches"]) <= set(d["new_branches"])
    assert json.loads(json.dumps(res.log)) == res.log          # plain JSON types (results.json)
    assert sum(surgery.summarize_log(res.log).values()) == sum(len(d["new_branches"]) for d in res.log)


def test_surgeon_schedule_and_lineage(run):
    model, _, _, res = run
    hist = res.branch.history
    assert [e for e, _ in hist] == list(range(CFG.epochs + 1))   # the returned net trained exactly `epochs`
    assert hist[-1][1] == res.branch.val_accuracy
    decision_epochs = sorted({d["epoch"] for d in res.log})
    assert decision_epochs == list(range(CFG.pretrain_epochs, CFG.epochs, CFG.decision_every))
    assert res.param_fraction == pytest.approx(res.model.count_params() / model.count_params())
    assert surgery.check_mlp(res.model, res.params) is None
    assert res.epochs_trained >= CFG.epochs


def test_candidates_scored_with_eq16_and_top_branches_win(run):
    _, _, _, res = run
    for d in res.log:
        cands = d["candidates"]
        types = defaultdict(int)
        for c in cands:
            assert c["score"] == pytest.approx(surgery.eq16_score(c["val_accuracy"], c["accuracy_gain"], c["param_fraction"]))
            assert c["recovery_batches"] == CFG.recovery[c["operation"]] * CFG.recovery_unit   # per type (Appendix)
            types[(c["parent_branch"], c["operation"])] += 1
        # best per type plus one random extra per parent branch: identity is always there
        for parent in d["parent_branches"]:
            assert types[(parent, "identity")] >= 1
            n_cands = sum(v for (b, _), v in types.items() if b == parent)
            n_types = len({op for (b, op) in types if b == parent})
            assert n_cands == n_types + 1
        winners = [c for c in cands if c["winner"]]
        assert len(winners) == min(CFG.branches, len(cands))
        assert min(c["score"] for c in winners) >= max(c["score"] for c in cands if not c["winner"])


def test_memory_accepts_only_improvements_and_bounds_redraws(run):
    _, _, _, res = run
    by_epoch = defaultdict(list)
    for d in res.log:
        by_epoch[d["epoch"]].append(d)
    for attempts in by_epoch.values():
        assert len(attempts) <= CFG.max_redraws + 1
        assert [d["attempt"] for d in attempts] == list(range(len(attempts)))
        for d in attempts[:-1]:
            assert not d["accepted"]
        for d in attempts:
            accs = [c["val_accuracy_after_training"] for c in d["candidates"] if c["winner"]]
            assert d["accepted"] == any(a >= d["previous_best_val_accuracy"] for a in accs)
    assert res.redraws == sum(len(a) - 1 for a in by_epoch.values())


def test_final_branch_selection(run, data):
    _, _, _, res = run
    assert res.branch.score == max(b.score for b in res.branches)
    model = mlp((1, 8, 8), [10], 10)
    cfg = SurgeonConfig(epochs=3, pretrain_epochs=1, decision_every=1, recovery_unit=1, final="accuracy",
                        memory=False)
    r = surgeon(model, model.init(0), *data, cfg, seed=1)
    assert r.branch.val_accuracy == max(b.val_accuracy for b in r.branches)
    assert all(d["accepted"] for d in r.log) and r.redraws == 0
    # total training = pre-training + each winner trained to the next decision + recuperation batches
    n_batches = -(-len(data[1]) // cfg.batch_size)
    winners = sum(c["winner"] for d in r.log for c in d["candidates"])
    recup = sum(c["recovery_batches"] for d in r.log for c in d["candidates"])
    assert winners == cfg.branches * len(r.log)
    assert r.epochs_trained == pytest.approx(cfg.pretrain_epochs + winners * cfg.decision_every + recup / n_batches)


def test_authors_code_configuration_runs(data):
    model = mlp((1, 8, 8), [10], 10)
    cfg = SurgeonConfig.authors_code(epochs=3, pretrain_epochs=1, decision_every=1)
    r = surgeon(model, model.init(0), *data, cfg, seed=2)
    assert cfg.svd_of == "outgoing" and cfg.recovery["add_layer"] == 1
    for d in r.log:
        for c in d["candidates"]:
            if c["operation"] == "add_layer":
                assert c["topology"].count("L") >= 1     # the code's identity layers are linear


def test_baseline_trains_equal_epochs(data):
    model = mlp((1, 8, 8), [10], 10)
    fr = train_baseline(model, model.init(0), *data, CFG, seed=0)
    assert len(fr.history["val_accuracy"]) == CFG.epochs
    more = train_baseline(model, fr.params, *data, CFG, epochs=2, seed=0)    # e.g. to equal total training
    assert len(more.history["val_accuracy"]) == 2
    with pytest.raises(ValueError, match="epochs"):
        train_baseline(model, fr.params, *data, CFG, epochs=0)


def test_bad_config_and_input(data):
    with pytest.raises(ValueError):
        SurgeonConfig(epochs=0)
    with pytest.raises(ValueError):
        SurgeonConfig(epochs=5, pretrain_epochs=6)
    with pytest.raises(ValueError, match="recovery"):
        SurgeonConfig(recovery={"identity": 1})
    with pytest.raises(ValueError):
        SurgeonConfig(final="best")
    with pytest.raises(ValueError):
        SurgeonConfig(lr=-1.0)
    model = mlp((1, 8, 8), [10], 10)
    x, y, xv, yv = data
    with pytest.raises(ValueError, match="integer labels"):
        surgeon(model, model.init(0), x, y.astype(float), xv, yv, CFG)
    with pytest.raises(TypeError):
        surgeon(model, model.init(0), x, y, xv, yv, {"epochs": 3})


def test_memory_redraws_then_falls_back_to_best_of_cycle(data, monkeypatch):
    """Force every newly trained branch to be worse than the previous cycle's best."""
    import refimpl.surgery.genetic as surgeon_module
    real_fit, calls = surgeon_module.fit, [0]

    def worsening_fit(*args, **kw):
        res = real_fit(*args, **kw)
        if kw.get("validation") is not None:
            calls[0] += 1
            res.history["val_accuracy"] = [1.0 - 0.01 * calls[0]] * len(res.history["val_accuracy"])
        return res

    monkeypatch.setattr(surgeon_module, "fit", worsening_fit)
    model = mlp((1, 8, 8), [10], 10)
    cfg = SurgeonConfig(epochs=3, pretrain_epochs=1, decision_every=1, recovery_unit=1, max_redraws=2)
    r = surgeon(model, model.init(0), *data, cfg, seed=0)
    assert r.redraws == 2 * 2                                   # two decision points, two re-draws each
    for epoch in (1, 2):
        attempts = [d for d in r.log if d["epoch"] == epoch]
        assert len(attempts) == 3 and not any(d["accepted"] for d in attempts)
        best = attempts[-1]["fallback_branches"]
        accs = {c["new_branch"]: c["val_accuracy_after_training"] for d in attempts for c in d["candidates"] if c["winner"]}
        assert sorted(best) == sorted(sorted(accs, key=lambda k: -accs[k])[:cfg.branches])


@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_surgeon_runs_on_every_hidden_activation(activation):
    """The Surgeon's decisions only use modifications that can be performed (tanh and sigmoid used to
    crash at the first decision: Eq. 3's identity layer with their activation is not exact)."""
    model = mlp(6, [10], 3, activation=activation)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    cfg = SurgeonConfig(epochs=3, pretrain_epochs=1, decision_every=1, recovery_unit=1)
    r = surgeon(model, model.init(0), x, y, x[:16], y[:16], cfg, seed=0)
    assert [e for e, _ in r.branch.history] == list(range(cfg.epochs + 1))
    assert surgery.check_mlp(r.model, r.params) is None
    first = r.log[0]                        # the starting network's decision: what was left out, and why
    assert first["not_proposed"] == [{"parent_branch": 0, **x} for x in surgery.refused_modifications(model)]
    assert bool(first["not_proposed"]) == (activation not in surgery.ELEMENTWISE)
    for c in (c for d in r.log for c in d["candidates"]):
        assert (c["inserted_activation"] is not None) == (c["operation"] == "add_layer")


def test_the_default_configuration_is_the_papers_appendix():
    """Every default written out from the Appendix's lists (not from the module's own constants),
    so a changed default or recuperation table fails here."""
    c = SurgeonConfig()
    assert (c.epochs, c.pretrain_epochs, c.decision_every, c.branches, c.max_redraws) == (100, 10, 10, 2, 2)
    assert (c.batch_size, c.lr, c.recovery_unit) == (16, 0.005, 25)
    assert (c.eps1, c.eps2, c.selection, c.extra_random) == (0.005, 0.3, "per_type", True)
    assert c.recovery == {"identity": 1, "add_neurons": 1, "add_layer": 10, "remove_neurons": 10,
                          "remove_layer": 10, "truncate": 1}
    assert (c.svd_of, c.neuron_split, c.final, c.memory) == ("incoming", "outgoing", "score", True)
