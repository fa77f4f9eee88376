"""Golden cases (refimpl.cases, cases/): the committed set equals a fresh export, the checker passes an
adapter that wraps refimpl, fails a broken one naming its cases, and PyTorch's and mpmath's
implementations agree with the cases through the adapters in tests/adapters/ (skipped when absent)."""
import io
import json
import math
import types
from pathlib import Path

import numpy as np
import pytest

from refimpl import cases as gc

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"
ADAPTERS = Path(__file__).resolve().parent / "adapters"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("cases")
    gc.export_cases(out)
    return out


def _json_files(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*.json"))


def _check(adapter, directory=CASES):
    buf = io.StringIO()
    failed = gc.check_cases(directory, adapter, out=buf)
    return failed, buf.getvalue().splitlines()


def _n_cases():
    return len(json.loads((CASES / "index.json").read_text())["cases"])


# ---- the committed cases are what the library produces now ---------------------------------------

def test_committed_cases_equal_a_fresh_export(fresh):
    assert _json_files(CASES) == _json_files(fresh), \
        f"cases/ lists other files than a fresh export; regenerate with: {gc.REGENERATE}"
    differ = [name for name in _json_files(fresh) if (CASES / name).read_bytes() != (fresh / name).read_bytes()]
    assert not differ, f"{len(differ)} committed case files differ from a fresh export (first: {differ[:5]}); " \
                       f"if the library change is intended, regenerate with: {gc.REGENERATE}"


def test_cases_are_small_complete_and_documented():
    total = sum(p.stat().st_size for p in CASES.rglob("*") if p.is_file())
    assert total < 1_000_000
    index = json.loads((CASES / "index.json").read_text())
    readme = (CASES / "README.md").read_text()
    used = {c["kind"] for c in index["cases"]}
    for kind in gc.kinds():
        assert kind in used, f"kind {kind} has no case"
    assert readme.endswith("\n" + gc.kinds_markdown()), f"cases/README.md's kinds section is stale: {gc.REGENERATE}"
    for entry in index["cases"]:
        case = json.loads((CASES / entry["file"]).read_text())
        for key in ("format", "name", "document", "kind", "equation", "produced_by", "inputs", "expected", "tolerance"):
            assert key in case, f"{entry['file']} lacks {key!r}"
        assert case["produced_by"].startswith("refimpl.")
    assert {c["document"] for c in index["cases"]} == set(gc.DOCUMENTS)


# ---- the checker ------------------------------------------------------------------------------------

def test_numpy_adapter_that_wraps_refimpl_passes_every_case():
    failed, lines = _check(str(ADAPTERS / "numpy_adapter.py"))
    assert failed == 0, "\n".join(l for l in lines if not l.startswith("PASS"))
    assert sum(l.startswith("PASS") for l in lines) == _n_cases()


def test_broken_adapter_fails_naming_each_conv2d_case():
    failed, lines = _check(str(ADAPTERS / "broken_adapter.py"))
    conv = [c["name"] for c in json.loads((CASES / "index.json").read_text())["cases"] if c["kind"] == "conv2d"]
    assert failed == len(conv) >= 4
    fails = [l for l in lines if l.startswith("FAIL")]
    for name in conv:
        assert any(l.startswith(f"FAIL  core/{name} [conv2d; thesis Eq. 2.11]: y: beyond tolerance") for l in fails), name
    assert any(l.startswith("PASS  core/dense ") for l in lines)
    assert lines[-1].startswith(f"summary: {_n_cases() - len(conv)} passed, {len(conv)} failed, 0 skipped")


def test_wrong_thesis_ch3_to_ch8_functions_fail_exactly_their_cases():
    """The NumPy adapter with one mistake per chapter: an NES update on the raw losses instead of their rank
    utilities (Eq. 8.19), NAS children that inherit nothing (every tensor freshly drawn), an Atari network
    without its biases and a unit-norm initialisation over the wrong axis, and a grouped convolution computed
    as a dense one (the kernel repeated over the groups, so every output channel sees every input channel)."""
    right = gc.load_adapter(str(ADAPTERS / "numpy_adapter.py"))
    wrong = types.ModuleType("wrong_thesis_adapter")
    wrong.__dict__.update({k: v for k, v in vars(right).items() if not k.startswith("__")})

    def nes_update(pi, samples, losses, lr, p_min):
        u = -np.asarray(losses)                                   # the bug: no utility normalisation
        return {"utilities": u, "pi": right.nes.update(pi, samples, u, lr, p_min=p_min),
                "mu": right.nes.update(pi[..., :-1], samples, u, lr, p_min=p_min, form="expectation")}

    def nas_mutation(**inputs):
        out = right.nas_mutation(**inputs)
        if "tensors" in out:                                      # the bug: nothing inherited
            rng = np.random.default_rng(0)
            out["tensors"] = {k: rng.standard_normal(np.shape(v)) for k, v in out["tensors"].items()}
        return out

    wrong.nes_update, wrong.nas_mutation = nes_update, nas_mutation
    wrong.atari_forward = lambda weights, biases, strides, obs: right.atari_forward(
        weights, [np.zeros_like(b) for b in biases], strides, obs)
    wrong.unit_norm_normal = lambda draws: (draws / np.linalg.norm(draws, axis=-1, keepdims=True)).astype(np.float32)
    wrong.grouped_conv2d = lambda x, K, groups, padding, stride: right.nn.conv2d(
        x, np.tile(K, (1, groups, 1, 1)), stride=stride, padding=padding)
    failed, lines = _check(wrong)
    index = json.loads((CASES / "index.json").read_text())["cases"]
    fails = {l.split()[1] for l in lines if l.startswith("FAIL")}
    nas_with_tensors = {f"thesis/{c['name']}" for c in index if c["kind"] == "nas_mutation"
                        and "inherited" in json.loads((CASES / c["file"]).read_text())["expected"]}
    want = nas_with_tensors | {f"thesis/{c['name']}" for c in index
                               if c["kind"] in ("nes_update", "atari_forward", "unit_norm_normal", "grouped_conv2d")}
    assert fails == want and failed == len(want) and len(nas_with_tensors) >= 10
    assert any(l.startswith("FAIL  thesis/nes_update ") and " pi: beyond tolerance" in l for l in lines)
    assert any(l.startswith("FAIL  thesis/grouped_conv2d_") and ": y: beyond tolerance" in l for l in lines)
    assert all("inherited." in l for l in lines if l.startswith("FAIL  thesis/nas_"))
    assert lines[-1].startswith(f"summary: {_n_cases() - len(want)} passed, {len(want)} failed, 0 skipped")


def test_missing_kinds_are_skipped_and_exceptions_are_failures():
    def dense(x, W, b):
        raise RuntimeError("not implemented yet")

    adapter = types.ModuleType("partial_adapter")
    adapter.dense = dense
    adapter.eq16_score = lambda a, delta_a, f: a + np.exp(delta_a - f)
    failed, lines = _check(adapter)
    assert failed == 1
    assert any(l.startswith("FAIL  core/dense") and "RuntimeError: not implemented yet" in l for l in lines)
    assert any(l.startswith("PASS  surgery/eq16_table1") for l in lines)
    assert sum(l.startswith("SKIP") for l in lines) == _n_cases() - 2


def test_adapter_by_module_name(monkeypatch):
    monkeypatch.syspath_prepend(str(ADAPTERS))
    failed, lines = _check("numpy_adapter")
    assert failed == 0 and lines[-1].startswith(f"summary: {_n_cases()} passed")


def _small_cases(tmp_path, n=2):
    """A copy of the committed index cut to its first ``n`` cases, with their files."""
    index = json.loads((CASES / "index.json").read_text())
    index["cases"] = index["cases"][:n]
    for e in index["cases"]:
        (tmp_path / e["file"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / e["file"]).write_bytes((CASES / e["file"]).read_bytes())
    (tmp_path / "index.json").write_text(json.dumps(index))
    return tmp_path / index["cases"][0]["file"]


@pytest.mark.parametrize("content, message", [("{bad", "is not valid JSON"), ("[]", "not an object"),
                                              ('{"format": "other"}', "format 'other'"),
                                              ('{"format": "refimpl-case/1"}', "is not a valid case")])
def test_a_malformed_case_file_is_a_value_error_naming_it(tmp_path, content, message):
    first = _small_cases(tmp_path)
    assert len(gc.load_cases(tmp_path)) == 2
    first.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        gc.load_cases(tmp_path)
    assert str(first) in str(err.value)


def test_a_missing_index_or_adapter_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.json does not exist .*refimpl cases export"):
        gc.load_cases(tmp_path)
    (tmp_path / "index.json").write_text('{"cases": 3}')
    with pytest.raises(ValueError, match="is not a cases index"):
        gc.load_cases(tmp_path)
    with pytest.raises(ImportError, match="cannot import the adapter module 'no_such_adapter_module'"):
        gc.load_adapter("no_such_adapter_module")
    (tmp_path / "bad_adapter.py").write_text("1/0\n")
    with pytest.raises(ImportError, match="bad_adapter.py: ZeroDivisionError"):
        gc.load_adapter(str(tmp_path / "bad_adapter.py"))


def test_enclosure_criterion_soundness_and_agreement():
    exp = gc.Enclosure(np.array([0.0, 1.0]), np.array([1.0, 2.0]), contains=np.array([[0.0, 1.5], [1.0, 2.0]]))
    tol = {"rtol": 1e-10, "atol": 1e-12}
    assert gc.compare((np.array([0.0, 1.0]), np.array([1.0, 2.0])), exp, tol)[0].ok
    assert gc.compare((np.array([-1e-13, 1.0]), np.array([1.0, 2.0 + 1e-13])), exp, tol)[0].ok  # rounding level
    narrow = gc.compare((np.array([0.0, 1.0]), np.array([0.9, 2.0])), exp, tol)[0]           # misses the value 1.0
    assert not narrow.ok and "unsound" in narrow.note
    loose = gc.compare((np.array([-1.0, 1.0]), np.array([1.0, 2.0])), exp, tol)[0]           # sound, another method
    assert not loose.ok and "unsound" not in loose.note and "differ" in loose.note
    assert not gc.compare((np.array([1.0, 1.0]), np.array([0.0, 2.0])), exp, tol)[0].ok       # lo > hi


def test_compare_exact_kinds_nan_and_structure():
    tol = {"rtol": 1e-10, "atol": 1e-12}
    assert gc.compare(np.array([1, 2]), np.array([1, 2]), tol)[0].ok
    assert not gc.compare(np.array([1.0, 2.0000001]), np.array([1, 2]), tol)[0].ok           # ints are exact
    assert gc.compare(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), tol)[0].ok
    assert not gc.compare(np.array([0.0, 1.0]), np.array([np.nan, 1.0]), tol)[0].ok
    assert not gc.compare("better: exit", "better: continue", tol)[0].ok
    assert gc.compare(None, None, tol)[0].ok and not gc.compare(0.0, None, tol)[0].ok
    res = gc.compare({"a": [1.0, 2.0]}, {"a": [1.0, 2.5], "b": 1.0}, tol)
    assert [r.path for r in res if not r.ok] == ["a[1]", "b"]


def test_non_numeric_output_is_a_failure_not_a_crash():
    tol = {"rtol": 1e-10, "atol": 1e-12}
    res = gc.compare("better: exit", 0.5, tol, "obj")
    assert not res[0].ok and "expected numbers" in res[0].note
    assert not gc.compare(None, 0.5, tol)[0].ok


def test_document_packages_do_not_import_the_cases_package():
    import ast
    for path in (ROOT / "refimpl").rglob("*.py"):
        if "cases" in path.relative_to(ROOT / "refimpl").parts or path == ROOT / "refimpl" / "cli.py":
            continue                # the cases package and the command line sit above the documents
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] + [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "cases" or n.endswith(".cases") or n.startswith("refimpl.cases") for n in names), path


def test_encoding_round_trip_and_stable_text():
    value = {"x": np.array([[0.1, -np.inf], [np.nan, 1e-300]]), "n": np.array([3, -1]), "flag": np.array([True, False]),
             "box": (np.array([0.0]), np.array([1.0])), "s": 2.5, "none": None, "name": "a"}
    text = gc.dumps(gc.encode(value))
    assert text == gc.dumps(gc.encode(value)) and '"-inf"' in text and '"nan"' in text
    back = gc.decode(json.loads(text))
    np.testing.assert_array_equal(back["x"], value["x"])
    assert back["n"].dtype == np.int64 and back["flag"].dtype == bool and back["box"][1][0] == 1.0
    assert back["s"] == 2.5 and back["none"] is None and math.isnan(back["x"][1, 0])
    assert 0.1 == json.loads(text)["x"]["data"][0][0]                # shortest round-trip repr, read back exactly


def test_export_removes_stale_case_files(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "renamed_case.json").write_text("{}")
    (tmp_path / "README.md").write_text("kept")
    written = gc.export_cases(tmp_path)
    assert not (tmp_path / "core" / "renamed_case.json").exists() and (tmp_path / "README.md").read_text() == "kept"
    assert written[0] == tmp_path / "index.json" and len(written) == _n_cases() + 1
    (tmp_path / "README.md").write_text("# prose\n\n## Kinds\n\nold table\n")     # its kinds section is refreshed
    assert gc.export_cases(tmp_path)[-1] == tmp_path / "README.md"
    assert (tmp_path / "README.md").read_text() == "# prose\n\n" + gc.kinds_markdown()


# ---- implementations nobody here wrote --------------------------------------------------------------

def test_pytorch_agrees_with_the_core_and_grouped_conv_cases():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    failed, lines = _check(str(ADAPTERS / "torch_adapter.py"))
    assert failed == 0, "\n".join(l for l in lines if l.startswith("FAIL"))
    index = json.loads((CASES / "index.json").read_text())["cases"]
    want = [c for c in index if c["document"] == "core" or c["kind"] == "grouped_conv2d"]
    passed = {l.split()[1] for l in lines if l.startswith("PASS")}
    assert passed == {f"{c['document']}/{c['name']}" for c in want} and any(c["kind"] == "grouped_conv2d" for c in want)


def test_mpmath_interval_arithmetic_agrees_with_the_interval_cases():
    pytest.importorskip("mpmath")
    failed, lines = _check(str(ADAPTERS / "mpmath_adapter.py"))
    assert failed == 0, "\n".join(l for l in lines if l.startswith("FAIL"))
    passed = {l.split()[1] for l in lines if l.startswith("PASS")}
    kinds = ("interval_sec23", "interval_forward", "interval_significance")
    want = {f"interval/{c['name']}" for c in json.loads((CASES / "index.json").read_text())["cases"] if c["kind"] in kinds}
    assert passed == want and len(want) >= 6
