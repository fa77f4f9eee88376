"""Tests for refimpl.spec: the ADNN specification language (parse, round trip, errors, verify)."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.accountability import UserIntent
from refimpl.accountability import Spec, SpecSyntaxError, parse_spec, parse_specs, verify


def test_the_issue_example():
    s = parse_spec("model MNIST-2 on mnist: accuracy >= 0.89 within max_trial=50, max_time=10m")
    assert (s.model, s.dataset) == ("MNIST-2", "mnist")
    assert s.lower == (0.89, True) and s.upper is None
    assert s.intent == UserIntent(max_time=600.0, max_trial=50)
    assert s.method == "asa" and s.delta == 0.0025


def test_chained_bound_of_the_authors_draft():
    s = parse_spec("model FMNIST-4 on fashion-mnist: 0.95 > accuracy > 0.65 within max_trial=20 using restart")
    assert s.lower == (0.65, False) and s.upper == (0.95, False) and s.method == "restart" and s.delta is None
    assert s.holds(0.9) and not s.holds(0.65) and not s.holds(0.95) and not s.holds(0.3)
    s = parse_spec("model M-1 on d: 0.6 <= accuracy <= 0.7 within max_trial=1")
    assert s.holds(0.6) and s.holds(0.7) and not s.holds(0.70001)


def test_units_percentages_comments_and_layout():
    text = """
    # two specs, one spread over lines
    model MNIST-1 on digits:
        accuracy > 90%
        within max_time=1.5h, max_gain=2%, max_trial=7   # trailing comment
        using asa(delta=3e-3)
    model FMNIST-2 on fashion-mnist: accuracy <= .5 within max_time=250ms
    """
    a, b = parse_specs(text)
    assert a.lower == (0.9, False) and a.intent == UserIntent(max_time=5400.0, max_trial=7, max_gain=0.02)
    assert a.delta == 0.003
    assert b.upper == (0.5, True) and b.intent.max_time == pytest.approx(0.25)
    assert parse_specs("  # nothing\n") == []


@pytest.mark.parametrize("text", [
    "model MNIST-2 on mnist: accuracy >= 0.89 within max_trial=50, max_time=10m",
    "model FMNIST-4 on fashion-mnist: 0.95 > accuracy > 0.65 within max_trial=20 using restart",
    "model X on y: accuracy < 1 within max_time=90s, max_gain=0.04 using asa(delta=-0.001)",
    "model a.b_c on d-e: 0 <= accuracy < 0.5 within max_time=0.1s",
])
def test_round_trip(text):
    s = parse_spec(text)
    canonical = s.to_text()
    assert parse_spec(canonical) == s
    assert parse_spec(canonical).to_text() == canonical
    assert parse_specs(canonical + "\n" + canonical) == [s, s]


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True).filter(
    lambda n: n not in ("model", "on", "accuracy", "within", "using"))
fractions = st.floats(0, 1, allow_nan=False)


@st.composite
def specs(draw):
    lo = draw(st.none() | st.tuples(fractions, st.booleans()))
    hi = draw(st.none() | st.tuples(fractions, st.booleans()))
    if lo is None and hi is None:
        lo = (draw(fractions), True)
    if lo is not None and hi is not None:
        if lo[0] > hi[0]:
            lo, hi = (hi[0], lo[1]), (lo[0], hi[1])
        if lo[0] == hi[0]:
            lo, hi = (lo[0], True), (hi[0], True)
    intent = UserIntent(max_time=draw(st.none() | st.floats(0, 1e6) | st.integers(0, 100).map(lambda m: 60.0 * m)),
                        max_trial=draw(st.none() | st.integers(1, 10**6)),
                        max_gain=draw(st.none() | fractions))
    if not intent.bounded:
        intent = UserIntent(max_trial=5, max_gain=intent.max_gain)
    restart = draw(st.booleans())
    delta = None if restart else draw(st.floats(-1, 1, allow_nan=False).filter(lambda d: d != 0))
    return Spec(draw(names), draw(names), lo, hi, intent, "restart" if restart else "asa", delta)


@settings(max_examples=150, deadline=None)
@given(specs())
def test_round_trip_property(spec):
    assert parse_spec(spec.to_text()) == spec


@pytest.mark.parametrize("text, line, column, message", [
    ("model MNIST-2 on mnist accuracy >= 0.9 within max_trial=3", 1, 24, "expected ':'"),
    ("model X on y: accuracy >= 89 within max_trial=3", 1, 27, "did you mean 89%"),
    ("model X on y:\n  accuracy >= 0.8 within max_tril=3", 2, 26, "unknown limit 'max_tril'"),
    ("model X on y: 0.9 < accuracy > 0.3 within max_trial=2", 1, 30, "both sides"),
    ("model X on y: 0.9 < accuracy < 0.3 within max_trial=2", 1, 32, "empty"),
    ("model X on y: accuracy >= 0.8", 1, 1, "must bound its search"),
    ("model X on y: accuracy >= 0.8 within max_trial=2.5", 1, 48, "positive integer"),
    ("model X on y: accuracy >= 0.8 within max_trial=0", 1, 48, "positive integer"),
    ("model X on y: accuracy >= 0.8 within max_trial=2, max_trial=3", 1, 51, "given twice"),
    ("model X on y: accuracy >= 0.8 within max_time=10min", 1, 47, "malformed number"),
    ("model X on y: accuracy >= 0.8 within max_time=10%", 1, 47, "duration"),
    ("model X on y: accuracy >= 0.8 within max_time=-5s", 1, 47, "finite duration >= 0"),
    ("model X on y: accuracy >= 0.8 within max_time=1e400h", 1, 47, "finite duration >= 0"),
    ("model X on y: accuracy == 0.8 within max_trial=2", 1, 24, "expected a comparison"),
    ("model X on y: accuracy >= 0.8 within max_trial=2 using sgd", 1, 56, "unknown method 'sgd'"),
    ("model X on y: accuracy >= 0.8 within max_trial=2 using asa(delta=0)", 1, 66, "non-zero"),
    ("model X on y: accuracy >= 0.8 within max_trial=2 using asa(delta=0.1", 1, 69, "expected ')'"),
    ("model X on y: accuracy >= 0.8 within max_trial=2 extra", 1, 50, "expected 'within', 'using'"),
    ("model X on y: accuracy >= 0.8 within max_trial=2 $", 1, 50, "unexpected character '$'"),
    ("", 1, 1, "empty text"),
    ("model X on", 1, 11, "data set name"),
    ("MNIST-2 on mnist: accuracy >= 0.9", 1, 1, "'model' to start"),
    ("model X on y: accuracy >= 0.5 within max_gain=2", 1, 47, "fraction in [0, 1]"),
])
def test_malformed_specs_report_line_and_column(text, line, column, message):
    with pytest.raises(SpecSyntaxError) as e:
        parse_spec(text)
    assert (e.value.line, e.value.column) == (line, column), str(e.value)
    assert message in e.value.message
    assert str(e.value).startswith(f"line {line}, column {column}: ")
    assert isinstance(e.value, ValueError)


def test_parse_spec_wants_exactly_one():
    one = "model X on y: accuracy >= 0.5 within max_trial=2"
    with pytest.raises(SpecSyntaxError, match="second 'model'") as e:
        parse_spec(one + "\n" + one)
    assert e.value.line == 2 and e.value.column == 1
    with pytest.raises(TypeError):
        parse_spec(b"model")


def test_spec_constructor_checks():
    with pytest.raises(ValueError, match="bound"):
        Spec("M-1", "d", intent=UserIntent(max_trial=1))
    with pytest.raises(ValueError, match="bound its search"):
        Spec("M-1", "d", (0.5, True), intent=UserIntent(max_gain=0.1))
    with pytest.raises(ValueError, match="empty"):
        Spec("M-1", "d", (0.5, False), (0.5, True), UserIntent(max_trial=1))
    with pytest.raises(ValueError, match="delta"):
        Spec("M-1", "d", (0.5, True), method="restart", delta=0.1)


# ----------------------------------------------------------------------------------- verify

def scripted(seed, offsets):
    """Accuracy rises with the seed (restarts) and with the shift (ASA)."""
    return min(1.0, 0.80 + 0.01 * seed + 2.0 * sum(offsets))


def test_verify_restart_verified_with_evidence():
    v = verify("model MNIST-2 on mnist: accuracy >= 0.835 within max_trial=10 using restart",
               objective=scripted, n_layers=3)
    assert v.verified and v.evidence.init_seed == 4 and v.evidence.accuracy >= 0.835
    assert len(v.search.trials) == 5 and v.search.stop_reason == "target"  # stops at the first hit
    assert "verified" in v.message and v.to_dict()["verified"] is True


def test_verify_not_verified_within_budget():
    v = verify("model MNIST-2 on mnist: accuracy >= 0.95 within max_trial=6 using restart",
               objective=scripted, n_layers=3)
    assert not v.verified and v.evidence is None and len(v.search.trials) == 6
    assert "not verified" in v.message and "max_trial" in v.message


def test_verify_asa_and_upper_bound():
    v = verify(parse_spec("model M-1 on d: 0.8045 < accuracy < 0.8055 within max_trial=50 using asa(delta=0.00025)"),
               objective=scripted, n_layers=2, rng=0)
    assert v.verified and 0.8045 < v.evidence.accuracy < 0.8055
    assert v.evidence.init_seed == 0 and math.isclose(sum(v.evidence.offsets), 0.0025, abs_tol=1e-9)


def test_verify_needs_n_layers_with_a_plain_function():
    with pytest.raises(ValueError, match="n_layers"):
        verify("model M-1 on d: accuracy >= 0.5 within max_trial=2", objective=scripted)


def test_default_objective_code_variant_follows_the_authors_code():
    from refimpl.accountability import CODE_INIT, TEXT_INIT
    from refimpl.accountability import default_objective
    obj, n = default_objective("MNIST-2", "digits", variant="code")
    assert n == 3 and obj.scheme == CODE_INIT and obj.shuffle is False
    assert all(l.activation == "linear" for l in obj.model.layers)
    obj, _ = default_objective("MNIST-1", "digits")
    assert obj.scheme == TEXT_INIT and obj.shuffle is True and obj.model.layers[0].activation == "relu"


def test_percentage_bounds_hold_at_their_boundary():
    # 93.3% parses to 0.9329999999999999; an accuracy of exactly 0.933 sits on the bound
    for text, inside in (("accuracy <= 93.3%", True), ("accuracy >= 93.3%", True),
                         ("accuracy < 93.3%", False), ("accuracy > 93.3%", False)):
        assert parse_spec(f"model M-1 on d: {text} within max_trial=1").holds(0.933) is inside, text
    assert parse_spec("model M-1 on d: accuracy >= 93.3% within max_trial=1").holds(0.9329) is False
