"""Command-line conventions shared by every chapter script (see docs/README.md, "Chapter scripts").

Each chapter is run as ``python chapters/<name>.py [--scale quick|paper] [--dataset NAME]
[--seed N] [--out DIR] [--device cpu|gpu] [--no-progress]``. Chapters import this module
(``chapters/`` is on ``sys.path`` when a script in it runs); it parses and checks the options
(one place for the contract every chapter follows), prepares the output folder, records which
data sets ran or were absent, and turns Ctrl-C into a one-line message — the methods live in
``refimpl``.

The contract:

* ``--seed`` is a non-negative integer; ``--dataset`` one of the chapter's data sets (an
  unknown name is a command-line error naming the valid ones); ``--out`` a folder, existing or
  not, never a file; a chapter's own numeric options are checked against their range
  (``positive_int``, ``non_negative_int``, ``positive_float``, ``probability``); ``--device gpu``
  only for a chapter with a GPU path, and only where CuPy finds a GPU. Command-line errors are
  one line, exit status 2, found while parsing, before any work.
* Outputs go to ``runs/<scale>/<chapter>/`` (git-ignored) unless ``--out`` names another folder;
  the committed reference ``figures/<chapter>/`` (quick scale; ``figures/<chapter>/paper/`` at paper
  scale, where one exists) is rewritten only when named with ``--out`` (or by
  ``chapters/run_all.py --update-reference``).
* An absent data set is reported as skipped, with every folder searched and
  ``refimpl data get NAME``; the exit status is 0 if at least one data set ran, 3 if none could
  (nothing is written then).
* Ctrl-C stops with a one-line message and exit status 130; every file is written atomically,
  so none is left half-written.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: chapter script -> its output folder name (runs/<scale>/<name>, figures/<name>)
CHAPTER_OUTPUT = {
    "interval_significance": "interval",
    "nn_surgery": "surgery",
    "accountable_accuracy": "accountability",
    "thesis_ch3_cnmc": "thesis_ch3",
    "thesis_ch5_evolution": "thesis_ch5",
    "thesis_ch6_atari": "thesis_ch6",
    "thesis_ch7_nas": "thesis_ch7",
    "thesis_ch8_lws": "thesis_ch8",
    "extremal_learning": "extremal",
}

#: output names of the chapters with a GPU path (--device gpu); the others reject it
GPU_CHAPTERS = ("thesis_ch5", "thesis_ch6")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_DATA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_STATUS_HELP = """exit status:
  0    finished; at least one data set ran (absent ones are reported as skipped, with where
       they were searched and `refimpl data get NAME`)
  1    failed (the message says why)
  2    command-line error: a negative --seed, an unknown --dataset, an --out that is a file,
       a value out of its option's range, --device gpu for a chapter without a GPU path or on a
       machine without a usable GPU
  3    no data set could be run (all absent); nothing is written
  130  interrupted (Ctrl-C); every file written so far is complete (files are written atomically)

outputs: runs/<scale>/<chapter>/ in the repository (git-ignored) unless --out names a folder;
the committed reference figures/<chapter>/ (paper scale: figures/<chapter>/paper/) is rewritten
only when named with --out."""


class ChapterArgumentParser(argparse.ArgumentParser):
    """Errors are one line (``script: error: message (see script --help)``), exit status 2;
    ``parse_args`` also checks ``--device`` against the chapter's GPU support."""

    gpu: bool = False
    gpu_note: str = ""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        ns = super().parse_args(args, namespace)
        if ns.device == "gpu":
            if not self.gpu:
                self.error(f"argument --device: this chapter has no GPU path{self.gpu_note}; use --device cpu")
            from refimpl.backend import GPUUnavailableError, to_device  # noqa: PLC0415
            try:
                import numpy as np  # noqa: PLC0415
                to_device([np.zeros(1)], "gpu")
            except GPUUnavailableError as e:
                self.error(f"argument --device: gpu is not usable here: {' '.join(str(e).split())}")
        return ns


def _number_type(convert, ok, what: str):
    """An argparse type: ``convert(text)`` (int or float), refused with "must be WHAT" unless
    ``ok(value)`` (NaN fails every comparison, so it is refused too)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    return parse


positive_int = _number_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = _number_type(int, lambda v: v >= 0, "a non-negative integer")
#: a finite number > 0 (a rate, a scale, a budget)
positive_float = _number_type(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
probability = _number_type(float, lambda v: 0.0 <= v <= 1.0, "a probability in [0, 1]")


def output_folder(text: str) -> Path:
    """argparse type for ``--out``: a folder that exists or can be created — not a file, nor a path
    under a file (found at parse time, before any work that ``output_dir`` would otherwise lose)."""
    path = Path(text)
    for p in (path, *path.parents):
        if p.exists():
            if p == path and not p.is_dir():
                raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
            if not p.is_dir():
                raise argparse.ArgumentTypeError(f"{text} cannot be created: {p} is a file, not a folder")
            break
    return path


def _no_dataset(text: str):
    raise argparse.ArgumentTypeError(f"this chapter reads no data set files, got {text!r}")


def chapter_parser(doc: str, *, chapter: str, datasets: tuple[str, ...], default_dataset: str | None = None,
                   gpu_note: str = "") -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the common chapter options.

    Args:
        doc: the script's docstring (the --help text).
        chapter: the output folder name (``runs/<scale>/<chapter>``).
        datasets: the names ``--dataset`` accepts.
        default_dataset: the default for ``--dataset`` (None: the chapter's choice per scale).
        gpu_note: said after "this chapter has no GPU path" (e.g. why). Whether a chapter has
            a GPU path is :data:`GPU_CHAPTERS`; ``--device gpu`` is an error for the others.
    """
    gpu = chapter in GPU_CHAPTERS
    p = ChapterArgumentParser(description=doc, epilog=EXIT_STATUS_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.gpu, p.gpu_note = gpu, gpu_note
    p.add_argument("--scale", choices=("quick", "paper"), default="quick",
                   help="quick: minutes on 2 CPU cores on the embedded data (default); "
                        "paper: the document's settings and data sets (hours; resumable)")
    if datasets:
        p.add_argument("--dataset", default=default_dataset, choices=datasets, metavar="NAME",
                       help=f"data set to use, one of: {', '.join(datasets)} (default: the chapter's choice "
                            "for the scale)")
    else:
        p.add_argument("--dataset", default=None, type=_no_dataset, metavar="NAME",
                       help="not used: this chapter reads no data set files")
    p.add_argument("--seed", type=non_negative_int, default=0, help="base random seed, >= 0 (default 0)")
    p.add_argument("--out", type=output_folder, default=None, metavar="DIR",
                   help=f"output folder for results.json and figures, created if absent; an existing file is "
                        f"refused (default runs/<scale>/{chapter} in the "
                        f"repository; the committed reference figures/{chapter} is rewritten only when named here)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help=("gpu runs the population-batched parts on CuPy (needs the [gpu] extra)" if gpu else
                         "cpu only: this chapter has no GPU path (gpu is rejected)"))
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide progress bars")
    p.set_defaults(chapter=chapter)
    return p


def output_dir(args: argparse.Namespace, chapter: str | None = None) -> Path:
    """``args.out`` or ``runs/<scale>/<chapter>`` in the repository, created."""
    chapter = chapter or args.chapter
    out = args.out if args.out is not None else REPO / "runs" / args.scale / chapter
    out.mkdir(parents=True, exist_ok=True)
    return out


class DataSets:
    """Which data sets a chapter ran, which were absent (and why), and which results came from
    which — the ``datasets`` entry of results.json (``make_results(datasets=ds.report())``)."""

    def __init__(self):
        self.used: list[str] = []
        self.absent: dict[str, str] = {}
        self.entries: dict[str, str | list[str]] = {}

    def use(self, name: str) -> None:
        """Record that ``name`` ran."""
        if name not in self.used:
            self.used.append(name)

    def skip(self, name: str, reason) -> str:
        """Record ``name`` as skipped and print one line saying why; ``reason`` is a string or a
        ``DatasetNotFoundError`` (then: every folder searched and ``refimpl data get NAME``)."""
        from refimpl.data import catalog  # noqa: PLC0415
        searched = getattr(reason, "searched", None)
        if searched is not None and name in catalog.names():
            text = (f"not found (searched {', '.join(str(d) for d in searched)}); "
                    f"get it with `refimpl data get {name}`")
        elif searched is not None:   # an experiment's name, not a data set's: the loader's own message says which
            text = " ".join(str(reason).split())
        else:
            text = " ".join(str(reason).split()).strip("'\"")
        self.absent[name] = text
        print(f"[skip] {name}: {text}", file=sys.stderr, flush=True)
        return text

    def label(self, pattern: str, names: str | list[str]) -> None:
        """Say that the results under path ``pattern`` (e.g. ``metrics/runs/digits``) came from ``names``."""
        self.entries[pattern] = names if isinstance(names, str) else list(names)

    def report(self) -> dict:
        return {"used": list(self.used), "absent": dict(self.absent), "entries": dict(self.entries)}

    def nothing_ran(self, script: str | None = None) -> int:
        """Print that no data set could be run and return exit status 3."""
        script = script or Path(sys.argv[0]).name
        print(f"{script}: no data set could be run ({', '.join(self.absent) or 'none requested'} absent); "
              f"nothing written; exit status {EXIT_NO_DATA}", file=sys.stderr)
        return EXIT_NO_DATA


def run(main) -> None:
    """Run a chapter's ``main()`` as a script: exit with the status it returns (None: 0); Ctrl-C
    prints one line and exits 130."""
    script = Path(sys.argv[0]).name
    try:
        status = main()
    except KeyboardInterrupt:
        if not os.environ.get("REFIMPL_RUN_ALL"):   # under run_all, run_all says it (one line in all)
            print(f"\n{script}: interrupted; every file written so far is complete (files are written atomically), "
                  "none half-written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(status or EXIT_OK)


def print_table(title: str, columns: list[str], rows: list[list], file=sys.stdout) -> None:
    """Print a plain-text table (numbers to 4 significant digits)."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "—" if v is None else str(v)
    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print(f"\n{title}", file=file)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), file=file)


class Stopwatch:
    """Elapsed wall-clock seconds since construction (``float(sw)``)."""

    def __init__(self):
        self.start = time.perf_counter()

    def __float__(self):
        return time.perf_counter() - self.start
