"""The refimpl command: data listing and downloads, the cases sub-commands, run, one-line errors."""
import configparser
import json
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest

from refimpl import cli
from refimpl.data import catalog
from refimpl.data import datasets as data_datasets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    monkeypatch.setenv("REFIMPL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(data_datasets, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path


def test_data_lists_where_searched_and_how_to_get(no_data, capsys):
    (no_data / "data" / "mnist").mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte"):
        (no_data / "data" / "mnist" / f).write_bytes(b"")
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    assert f"= {no_data / 'data'}" in out
    lines = out.splitlines()
    assert any(x.startswith("digits") and "embedded" in x for x in lines)
    assert any(x.startswith("mnist ") and "found" in x and str(no_data / "data" / "mnist") in x for x in lines)
    fm = next(i for i, x in enumerate(lines) if x.startswith("fashion-mnist"))
    assert "absent" in lines[fm] and str(no_data / "data" / "fashion-mnist") in lines[fm]
    assert "get it: refimpl data get fashion-mnist" in lines[fm + 1]
    assert any(x.startswith("svhn") and "no loader" in x for x in lines)
    assert {s.name for s in catalog.catalog()} >= {"digits", "mnist", "fashion-mnist", "cifar-10", "emnist-digits"}


def test_data_get_offline_fails_with_a_plain_message(no_data, monkeypatch, capsys):
    def offline(*a, **k):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    assert cli.main(["data", "get", "fashion-mnist"]) == 1
    err = capsys.readouterr().err
    assert "refimpl data get: error: fashion-mnist: Download of" in err and "no network?" in err
    assert "Traceback" not in err
    assert not (no_data / "home" / ".cache" / "refimpl" / "fashion-mnist").exists()
    assert cli.main(["data", "get", "emnist-digits"]) == 1
    assert "cannot be downloaded by refimpl" in capsys.readouterr().err
    assert cli.main(["data", "get", "digits"]) == 0
    assert "already present" in capsys.readouterr().out
    assert cli.main(["data", "get", "nope"]) == 1
    assert "unknown data set 'nope'" in capsys.readouterr().err


def test_absent_data_messages_name_the_command(no_data):
    from refimpl import data
    with pytest.raises(data.DatasetNotFoundError, match="refimpl data get mnist"):
        data.load_mnist()


def test_cases_commands_check_the_committed_cases(capsys):
    cases_dir = Path(__file__).resolve().parents[1] / "cases"
    adapters = Path(__file__).resolve().parent / "adapters"
    assert cli.main(["cases", "check", str(cases_dir), "--against", str(adapters / "numpy_adapter.py")]) == 0
    assert "0 failed" in capsys.readouterr().out
    assert cli.main(["cases", "check", str(cases_dir), "--against", str(adapters / "broken_adapter.py")]) == 1
    assert "FAIL  core/conv2d" in capsys.readouterr().out
    assert cli.main(["cases", "check", str(cases_dir / "none"), "--against", "m"]) == 2


def test_cases_input_errors_exit_2_with_one_line_naming_the_file(tmp_path, capsys):
    cases_dir = Path(__file__).resolve().parents[1] / "cases"
    numpy_adapter = str(Path(__file__).resolve().parent / "adapters" / "numpy_adapter.py")
    index = json.loads((cases_dir / "index.json").read_text())
    index["cases"] = index["cases"][:1]
    broken = tmp_path / "broken"
    (broken / index["cases"][0]["file"]).parent.mkdir(parents=True)
    (broken / index["cases"][0]["file"]).write_text("{bad")
    (broken / "index.json").write_text(json.dumps(index))
    (tmp_path / "empty").mkdir()
    for argv, message in (
            (["check", str(cases_dir), "--against", "no_such_adapter_module"], "no_such_adapter_module"),
            (["check", str(cases_dir), "--against", str(tmp_path / "missing.py")], "missing.py does not exist"),
            (["check", str(broken), "--against", numpy_adapter], f"{broken / index['cases'][0]['file']} is not valid JSON"),
            (["check", str(tmp_path / "empty"), "--against", numpy_adapter], "index.json does not exist"),
            (["export", str(Path(__file__))], "is not a folder")):
        assert cli.main(["cases", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("refimpl cases") and message in err, err


def test_usage_errors_are_one_line(capsys):
    for argv in (["nope"], ["verify"], ["verify", "a", "--rtol", "-1"], ["cases", "check", "d"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "error:" in err


def test_run_delegates_to_run_all(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--help"])
    assert exc.value.code == 0
    assert "--update-reference" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "nope", "--scale", "quick"])
    assert exc.value.code == 2 and "unknown chapters nope" in capsys.readouterr().err


def test_entry_point_and_package_data_are_declared():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "refimpl = refimpl.cli:main" in cfg["options.entry_points"]["console_scripts"]
    assert "schema/*.json" in cfg["options.package_data"]["refimpl"]
    assert "jsonschema" in cfg["options"]["install_requires"]


def test_python_dash_m_refimpl():
    r = subprocess.run([sys.executable, "-m", "refimpl", "--help"], capture_output=True, text=True,
                       cwd=REPO, timeout=60)
    assert r.returncode == 0 and "verify" in r.stdout and "data" in r.stdout
