"""ADNN: a small specification language for accountable accuracy (Pan, Nguyen, Ahmed, Sec. 1 and 5).

The paper proposes "a specification language *ADNN* that verif[ies] the model's capability" —
whether a model structure can reach a user-defined accuracy — but never specifies it (the
authors' draft shows only ``@adnn(0.95>accuracy>0.65)``). This module defines one. A spec names a
model and a data set, bounds the accuracy, states the user intent of Sec. 5.2, and optionally the
search method::

    model MNIST-2 on mnist: accuracy >= 0.89 within max_trial=50, max_time=10m
    model FMNIST-4 on fashion-mnist: 0.65 < accuracy < 0.95 within max_trial=20 using restart
    # a comment; specs may span lines and a text may hold several
    model MNIST-1 on digits: accuracy >= 90% within max_time=90s, max_gain=2% using asa(delta=0.0025)

Grammar (keywords are lower case; whitespace and newlines separate tokens; ``#`` starts a comment)::

    text     := spec*
    spec     := "model" NAME "on" NAME ":" bound [ "within" limit ("," limit)* ] [ "using" method ]
    bound    := "accuracy" CMP NUMBER
              | NUMBER CMP "accuracy" [ CMP NUMBER ]        -- a chained comparison, as in the draft
    CMP      := ">=" | ">" | "<=" | "<"
    limit    := "max_trial" "=" INTEGER | "max_time" "=" DURATION | "max_gain" "=" NUMBER
    method   := "asa" [ "(" "delta" "=" NUMBER ")" ] | "restart"
    NUMBER   := signed decimal, optionally with exponent, optionally followed by "%" (89% = 0.89)
    DURATION := decimal followed by "ms", "s", "m" or "h" (a bare number is seconds)
    NAME     := a letter or "_", then letters, digits, "_", "-", "."

Semantics: accuracies and gains are fractions in [0, 1]. A spec must bound its search (max_trial
or max_time). :func:`verify` runs the search — Algorithm 1 (``asa``, default δ = 0.0025, the
paper's RQ2 choice) or the restart baseline — under the spec's user intent, stopping as soon as a
trial's accuracy satisfies the bound; the spec is *verified* iff some trial did, and the verdict
carries that trial (seed, shifts, accuracy) as evidence together with the full trial log.

Malformed text raises :class:`SpecSyntaxError` (a ``ValueError``) giving line and column (both
1-based) and the offending line with a caret. ``Spec.to_text()`` writes the canonical form, and
``parse_spec(spec.to_text()) == spec`` for every spec.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from .objective import CODE_INIT, NetworkObjective, paper_model
from .search import GAIN_TOLERANCE, SearchResult, TrialRecord, UserIntent, asa_search, restart_search

__all__ = ["Spec", "SpecSyntaxError", "Verdict", "parse_spec", "parse_specs", "verify", "default_objective"]

_CMP = (">=", "<=", ">", "<")
_LIMITS = ("max_trial", "max_time", "max_gain")
_METHODS = ("asa", "restart")
_UNIT_SECONDS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DEFAULT_DELTA = 0.0025


class SpecSyntaxError(ValueError):
    """A malformed spec. Attributes ``line``, ``column`` (1-based) and ``message``; ``str()``
    shows ``line L, column C: message`` and the offending line with a caret under the column."""

    def __init__(self, message: str, line: int, column: int, source_line: str = ""):
        self.message, self.line, self.column, self.source_line = message, line, column, source_line
        text = f"line {line}, column {column}: {message}"
        if source_line:
            text += f"\n  {source_line}\n  {' ' * (column - 1)}^"
        super().__init__(text)


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str          # "name", "number", "op", "end"
    text: str
    line: int
    col: int
    value: float | None = None
    unit: str | None = None    # "%", "ms", "s", "m", "h" or None


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_UNIT = re.compile(r"%|ms|s|m|h")


def _tokenize(text: str) -> Iterator[_Tok]:
    lines = text.split("\n")
    for ln, line in enumerate(lines, start=1):
        i = 0
        while i < len(line):
            c = line[i]
            if c in " \t\r":
                i += 1
            elif c == "#":
                break
            elif m := _NUMBER.match(line, i):
                j = m.end()
                u = _UNIT.match(line, j)
                unit = None
                if u and not (j + len(u.group()) < len(line) and (line[j + len(u.group())].isalnum()
                                                                   or line[j + len(u.group())] == "_")):
                    unit, j = u.group(), u.end()
                if j < len(line) and (line[j].isalnum() or line[j] in "_."):
                    raise SpecSyntaxError(f"malformed number {line[i:j + 1]!r}", ln, i + 1, line)
                yield _Tok("number", line[i:j], ln, i + 1, float(m.group()), unit)
                i = j
            elif m := _NAME.match(line, i):
                yield _Tok("name", m.group(), ln, i + 1)
                i = m.end()
            elif line.startswith((">=", "<="), i):
                yield _Tok("op", line[i:i + 2], ln, i + 1)
                i += 2
            elif c in "<>=:,()":
                yield _Tok("op", c, ln, i + 1)
                i += 1
            else:
                raise SpecSyntaxError(f"unexpected character {c!r}", ln, i + 1, line)
    last = lines[-1] if lines else ""
    yield _Tok("end", "", len(lines), len(last) + 1)


def _describe(tok: _Tok) -> str:
    return "the end of the text" if tok.kind == "end" else repr(tok.text)


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------

def _fmt(v: float) -> str:
    """Shortest text that parses back to the same float."""
    return repr(float(v)) if not float(v).is_integer() else str(int(v)) if abs(v) < 1e15 else repr(float(v))


def _fmt_duration(seconds: float) -> str:
    for unit, scale in (("h", 3600.0), ("m", 60.0)):
        q = seconds / scale
        if seconds >= scale and q.is_integer() and q * scale == seconds:
            return f"{_fmt(q)}{unit}"
    return f"{_fmt(seconds)}s"


@dataclass(frozen=True)
class Spec:
    """A parsed ADNN spec (see the module docstring).

    model, dataset : names (e.g. ``"MNIST-2"``, ``"mnist"``).
    lower, upper : ``(value, inclusive)`` accuracy bounds or ``None`` (at least one is set).
    intent : the :class:`~refimpl.accountability.UserIntent` (must be bounded).
    method : ``"asa"`` (Algorithm 1) or ``"restart"``; delta : δ for ``asa`` (``None`` for restart).

    Raises ``ValueError`` if no bound is given, a bound lies outside [0, 1], the interval is
    empty, the intent does not bound the search, or method/delta are inconsistent.
    """
    model: str
    dataset: str
    lower: tuple[float, bool] | None = None
    upper: tuple[float, bool] | None = None
    intent: UserIntent = field(default_factory=lambda: UserIntent(max_trial=50))
    method: str = "asa"
    delta: float | None = DEFAULT_DELTA

    def __post_init__(self):
        if self.lower is None and self.upper is None:
            raise ValueError("a spec needs an accuracy bound")
        for name, b in (("lower", self.lower), ("upper", self.upper)):
            if b is not None:
                v, inc = b
                if not (0.0 <= float(v) <= 1.0):
                    raise ValueError(f"{name} accuracy bound must lie in [0, 1], got {v}")
                object.__setattr__(self, name, (float(v), bool(inc)))
        if self.lower is not None and self.upper is not None:
            (lo, li), (hi, hi_inc) = self.lower, self.upper
            if lo > hi or (lo == hi and not (li and hi_inc)):
                raise ValueError(f"the accuracy interval is empty: {self._bound_text()}")
        if not isinstance(self.intent, UserIntent):
            raise TypeError(f"intent must be a UserIntent, got {type(self.intent).__name__}")
        if not self.intent.bounded:
            raise ValueError("a spec must bound its search with max_trial or max_time")
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        if self.method == "restart" and self.delta is not None:
            raise ValueError("the restart baseline takes no delta")
        if self.method == "asa" and not (self.delta is not None and math.isfinite(self.delta) and self.delta != 0):
            raise ValueError(f"asa needs a finite non-zero delta, got {self.delta!r}")

    def holds(self, accuracy: float) -> bool:
        """Does ``accuracy`` satisfy the spec's bound?

        Bounds are compared with a tolerance of ``GAIN_TOLERANCE`` (1e-9), far below one test
        example in a million: ``93.3%`` parses to 0.9329999999999999, and an accuracy of exactly
        0.933 must satisfy ``accuracy <= 93.3%`` and fail ``accuracy < 93.3%``.
        """
        tol = GAIN_TOLERANCE
        if self.lower is not None:
            v, inc = self.lower
            if not (accuracy >= v - tol if inc else accuracy > v + tol):
                return False
        if self.upper is not None:
            v, inc = self.upper
            if not (accuracy <= v + tol if inc else accuracy < v - tol):
                return False
        return True

    def _bound_text(self) -> str:
        if self.lower is not None and self.upper is not None:
            return (f"{_fmt(self.lower[0])} {'<=' if self.lower[1] else '<'} accuracy "
                    f"{'<=' if self.upper[1] else '<'} {_fmt(self.upper[0])}")
        if self.lower is not None:
            return f"accuracy {'>=' if self.lower[1] else '>'} {_fmt(self.lower[0])}"
        return f"accuracy {'<=' if self.upper[1] else '<'} {_fmt(self.upper[0])}"

    def to_text(self) -> str:
        """The canonical one-line text of this spec (``parse_spec`` gives back an equal Spec)."""
        limits = []
        if self.intent.max_trial is not None:
            limits.append(f"max_trial={self.intent.max_trial}")
        if self.intent.max_time is not None:
            limits.append(f"max_time={_fmt_duration(float(self.intent.max_time))}")
        if self.intent.max_gain is not None:
            limits.append(f"max_gain={_fmt(self.intent.max_gain)}")
        method = "restart" if self.method == "restart" else f"asa(delta={_fmt(self.delta)})"
        return (f"model {self.model} on {self.dataset}: {self._bound_text()} "
                f"within {', '.join(limits)} using {method}")

    __str__ = to_text


# --------------------------------------------------------------------------------------------
# Parser (recursive descent)
# --------------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(f"a spec must be a str, got {type(text).__name__}")
        self.lines = text.split("\n")
        self.toks = list(_tokenize(text))
        self.pos = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.pos]

    def error(self, message: str, tok: _Tok | None = None):
        tok = tok or self.tok
        src = self.lines[tok.line - 1] if 0 < tok.line <= len(self.lines) else ""
        raise SpecSyntaxError(message, tok.line, tok.col, src)

    def advance(self) -> _Tok:
        tok = self.tok
        self.pos += 1
        return tok

    def expect(self, kind: str, text: str | None = None, what: str | None = None) -> _Tok:
        tok = self.tok
        if tok.kind != kind or (text is not None and tok.text != text):
            self.error(f"expected {what or repr(text)}, found {_describe(tok)}")
        return self.advance()

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    # spec := "model" NAME "on" NAME ":" bound [within ...] [using ...]
    def spec(self) -> Spec:
        start = self.expect("name", "model", "'model' to start a spec")
        model = self.expect("name", what="a model name after 'model'").text
        self.expect("name", "on", "'on' after the model name")
        dataset = self.expect("name", what="a data set name after 'on'").text
        self.expect("op", ":", "':' after the data set name")
        lower, upper = self.bound()
        limits = {}
        if self.at("name", "within"):
            self.advance()
            self.limit(limits)
            while self.at("op", ","):
                self.advance()
                self.limit(limits)
        method, delta = "asa", DEFAULT_DELTA
        if self.at("name", "using"):
            self.advance()
            method, delta = self.method()
        if not (self.at("end") or self.at("name", "model")):
            self.error(f"expected 'within', 'using' or the next 'model', found {_describe(self.tok)}")
        if "max_trial" not in limits and "max_time" not in limits:
            self.error("the spec must bound its search: add 'within max_trial=N' or 'within max_time=T'",
                       start)
        try:
            return Spec(model, dataset, lower, upper, UserIntent(**limits), method, delta)
        except ValueError as e:
            self.error(str(e), start)

    def number(self, what: str, *, fraction: bool) -> tuple[_Tok, float]:
        tok = self.expect("number", what=what)
        if tok.unit not in (None, "%"):
            self.error(f"unexpected unit {tok.unit!r} on {what}", tok)
        v = tok.value / 100.0 if tok.unit == "%" else tok.value
        if fraction and not 0.0 <= v <= 1.0:
            hint = f" (did you mean {_fmt(tok.value)}%?)" if tok.unit is None and 1 < tok.value <= 100 else ""
            self.error(f"{what} must be a fraction in [0, 1] or a percentage, got {tok.text}{hint}", tok)
        return tok, v

    def cmp(self) -> _Tok:
        tok = self.tok
        if tok.kind != "op" or tok.text not in _CMP:
            self.error(f"expected a comparison (>=, >, <=, <), found {_describe(tok)}")
        return self.advance()

    def bound(self):
        if self.at("name", "accuracy"):
            self.advance()
            op = self.cmp()
            _, v = self.number("an accuracy", fraction=True)
            return ((v, op.text == ">="), None) if op.text[0] == ">" else (None, (v, op.text == "<="))
        if not self.at("number"):
            self.error(f"expected 'accuracy' or a number starting the bound, found {_describe(self.tok)}")
        _, v1 = self.number("an accuracy", fraction=True)
        op1 = self.cmp()
        self.expect("name", "accuracy", "'accuracy' in the chained comparison")
        # v1 op1 accuracy: "<" means accuracy > v1 (a lower bound), ">" an upper bound
        first = ("lower" if op1.text[0] == "<" else "upper", (v1, len(op1.text) == 2))
        if self.tok.kind == "op" and self.tok.text in _CMP:
            op2 = self.advance()
            if op2.text[0] != op1.text[0]:
                self.error("a chained comparison must bound accuracy from both sides "
                           "(write lo < accuracy < hi or hi > accuracy > lo)", op2)
            v2tok, v2 = self.number("an accuracy", fraction=True)
            second = ("upper" if first[0] == "lower" else "lower", (v2, len(op2.text) == 2))
            b = dict([first, second])
            (lo, li), (hi, hinc) = b["lower"], b["upper"]
            if lo > hi or (lo == hi and not (li and hinc)):
                self.error(f"the accuracy interval is empty ({_fmt(lo)} to {_fmt(hi)})", v2tok)
            return b["lower"], b["upper"]
        return (first[1], None) if first[0] == "lower" else (None, first[1])

    def limit(self, limits: dict):
        tok = self.expect("name", what="a limit (max_trial, max_time or max_gain)")
        if tok.text not in _LIMITS:
            self.error(f"unknown limit {tok.text!r}; known limits: {', '.join(_LIMITS)}", tok)
        if tok.text in limits:
            self.error(f"{tok.text} is given twice", tok)
        self.expect("op", "=", f"'=' after {tok.text}")
        if tok.text == "max_trial":
            v = self.expect("number", what="an integer number of trials")
            if v.unit is not None or not v.value.is_integer() or not re.fullmatch(r"\d+", v.text) or v.value < 1:
                self.error(f"max_trial must be a positive integer, got {v.text}", v)
            limits["max_trial"] = int(v.value)
        elif tok.text == "max_time":
            v = self.expect("number", what="a duration such as 90s, 10m or 1.5h")
            if v.unit == "%":
                self.error("max_time takes a duration (ms, s, m, h), not a percentage", v)
            seconds = v.value * _UNIT_SECONDS[v.unit or "s"]
            if not (math.isfinite(seconds) and seconds >= 0):
                self.error(f"max_time must be a finite duration >= 0, got {v.text}", v)
            limits["max_time"] = seconds
        else:
            _, limits["max_gain"] = self.number("max_gain", fraction=True)

    def method(self):
        tok = self.expect("name", what="a method (asa or restart)")
        if tok.text == "restart":
            return "restart", None
        if tok.text != "asa":
            self.error(f"unknown method {tok.text!r}; known methods: {', '.join(_METHODS)}", tok)
        delta = DEFAULT_DELTA
        if self.at("op", "("):
            self.advance()
            self.expect("name", "delta", "'delta'")
            self.expect("op", "=", "'=' after delta")
            v = self.expect("number", what="a value for delta")
            if v.unit is not None or v.value == 0:
                self.error(f"delta must be a non-zero number without unit, got {v.text}", v)
            delta = v.value
            self.expect("op", ")", "')'")
        return "asa", delta


def parse_specs(text: str) -> list[Spec]:
    """Every spec in ``text`` (possibly none). Raises :class:`SpecSyntaxError` if malformed."""
    p = _Parser(text)
    specs = []
    while not p.at("end"):
        specs.append(p.spec())
    return specs


def parse_spec(text: str) -> Spec:
    """Exactly one spec. Raises :class:`SpecSyntaxError` if malformed, empty or holding several."""
    p = _Parser(text)
    if p.at("end"):
        p.error("expected a spec ('model NAME on DATASET: ...'), found an empty text")
    spec = p.spec()
    if not p.at("end"):
        p.error("expected one spec, found a second 'model'")
    return spec


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    """The outcome of :func:`verify`: ``verified``; ``evidence`` — the first trial whose accuracy
    satisfies the bound (``None`` if none did); ``search`` — the full :class:`SearchResult`;
    ``message`` — a one-line explanation naming the evidence or the best accuracy reached."""
    spec: Spec
    verified: bool
    evidence: TrialRecord | None
    search: SearchResult
    message: str

    def to_dict(self) -> dict:
        from dataclasses import asdict  # noqa: PLC0415
        return {"spec": self.spec.to_text(), "verified": self.verified, "message": self.message,
                "evidence": asdict(self.evidence) if self.evidence is not None else None,
                "search": self.search.to_dict()}


def default_objective(model_name: str, dataset: str, *, variant: str = "text", **kw) -> tuple[NetworkObjective, int]:
    """A :class:`NetworkObjective` for the paper's model ``model_name`` trained on ``dataset``
    (any name of :func:`refimpl.data.load_dataset`; images flattened). ``variant`` is
    :func:`~refimpl.accountability.paper_model`'s; ``variant="code"`` also defaults to the authors'
    N(0, 1) initialization (``CODE_INIT``) and batches in fixed data order (``shuffle=False``).
    ``kw`` go to :class:`NetworkObjective` (epochs, scheme, ...). Returns ``(objective, n_layers)``."""
    from ..data import load_dataset  # noqa: PLC0415
    ds = load_dataset(dataset)
    x = ds.x_train.reshape(len(ds.x_train), -1).astype(np.float32)
    model = paper_model(model_name, x.shape[1], ds.n_classes, variant=variant)
    if variant == "code":
        kw = {"scheme": CODE_INIT, "shuffle": False, **kw}
    obj = NetworkObjective(model, x, ds.y_train, **kw)
    return obj, obj.n_layers


def verify(spec: Spec | str, *, objective: Callable | None = None, n_layers: int | None = None,
           build: Callable[[str, str], tuple[Callable, int]] = default_objective,
           seed: int = 0, rng: int | np.random.Generator = 0, clock=None) -> Verdict:
    """Check a spec by running its search under its user intent.

    spec : a :class:`Spec` or its text. objective, n_layers : an injected objective (see
    :mod:`refimpl.accountability`); if omitted, ``build(spec.model, spec.dataset)`` makes one
    (default: train the paper's model on the named data set). seed : the first run's draw.
    rng : the ASA's random stream. clock : time source for max_time (default ``time.perf_counter``).

    The search stops at the first trial whose accuracy satisfies the bound ("verified", with that
    trial as evidence) or when the user intent is exhausted ("not verified": no trial within the
    budget reached the bound — evidence of absence only within that budget).
    """
    import time  # noqa: PLC0415
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be a Spec or its text, got {type(spec).__name__}")
    if objective is None:
        objective, n_layers = build(spec.model, spec.dataset)
    elif n_layers is None:
        n_layers = getattr(objective, "n_layers", None)
        if n_layers is None:
            raise ValueError("n_layers is required with an injected objective that has no n_layers attribute")
    kw = dict(intent=spec.intent, clock=clock or time.perf_counter, stop_when=spec.holds)
    if spec.method == "asa":
        result = asa_search(objective, n_layers, spec.delta, init_seed=seed, rng=rng, **kw)
    else:
        result = restart_search(objective, n_layers, first_seed=seed, **kw)
    hits = [t for t in result.trials if spec.holds(t.accuracy)]
    if hits:
        e = hits[0]
        msg = (f"verified: trial {e.index} (init seed {e.init_seed}, shifts {list(e.offsets)}) reached "
               f"accuracy {e.accuracy:.4f} after {len(result.trials)} trial(s)")
        return Verdict(spec, True, e, result, msg)
    best = f"{result.best_accuracy:.4f}" if result.trials else "none"
    msg = (f"not verified: no trial satisfied '{spec._bound_text()}' within the user intent "
           f"(stopped by {result.stop_reason} after {len(result.trials)} trial(s); best accuracy {best})")
    return Verdict(spec, False, None, result, msg)
