"""The README's two commands exist, and .ci/run runs the test command verbatim."""
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command_verbatim():
    blocks = _bash_blocks((REPO / "README.md").read_text())
    main_cmd, test_cmd = blocks[0], blocks[1]
    assert "chapters/run_all.py --scale quick" in main_cmd and "pip install -e ." in main_cmd
    assert "pytest" in test_cmd and '".[test]"' in test_cmd
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test_cmd in ci_lines


def test_every_chapter_in_the_readme_table_is_known_to_run_all():
    import sys
    sys.path.insert(0, str(REPO / "chapters"))
    from run_all import CHAPTERS
    for script in re.findall(r"`chapters/(\w+)\.py`", (REPO / "README.md").read_text()):
        assert script == "run_all" or script.startswith("_") or script in CHAPTERS   # _cli: shared options
