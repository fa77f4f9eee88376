"""Command-line conventions shared by every chapter script (see docs/README.md, "Chapter scripts").

Each chapter is run as ``python chapters/<name>.py [--scale quick|paper] [--dataset NAME]
[--seed N] [--out DIR] [--device cpu|gpu] [--no-progress]``. Chapters import this module
(``chapters/`` is on ``sys.path`` when a script in it runs); it only parses arguments and
prepares the output folder — the methods live in ``refimpl``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def chapter_parser(doc: str, *, default_dataset: str | None = None,
                   datasets: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the common chapter options; ``doc`` is the script's docstring."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=("quick", "paper"), default="quick",
                   help="quick: minutes on 2 CPU cores on the embedded data (default); "
                        "paper: the document's settings and data sets (hours; resumable)")
    p.add_argument("--dataset", default=default_dataset, choices=datasets,
                   help="data set to use (default: the chapter's choice for the scale)")
    p.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder for results.json and figures (default figures/<chapter>)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help="gpu runs the population-batched parts on CuPy (needs the [gpu] extra)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide progress bars")
    return p


def output_dir(args: argparse.Namespace, chapter: str) -> Path:
    """``args.out`` or ``figures/<chapter>``, created."""
    out = args.out if args.out is not None else REPO / "figures" / chapter
    out.mkdir(parents=True, exist_ok=True)
    return out


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
