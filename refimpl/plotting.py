"""One look for every chapter's figures, so a reader can trust a figure at a glance.

Every figure a chapter writes follows four rules, and this module gives each one a function:

* it says what data it was made on and at which scale (:func:`data_label`, a small grey line in the
  lower right corner: ``"Fashion-MNIST · quick scale"``);
* where the document reports a value, the figure shows it beside ours, in one recognisable style
  (black, dashed or hollow, labelled "paper ..."): :func:`paper_hline`, :func:`paper_vline`,
  :func:`paper_points`, :func:`paper_curve`, :func:`paper_bars`;
* a legend never sits on the data (:func:`legend_outside`: to the right of an axes or below the figure);
* a panel that could not be made (an absent data set, a skipped run) says so in its place
  (:func:`absent_panel`) instead of disappearing.

The artists these functions draw carry a ``gid`` (:data:`PAPER`, :data:`DATA_LABEL`, :data:`ABSENT`), so a
test can find them with :func:`artists` without looking at pixels. Figures are written atomically as PNG by
:func:`save`. matplotlib is imported lazily with the non-interactive Agg backend, so importing this module
costs nothing and works without a display.
"""
from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .atomic import write_atomic

__all__ = ["PAPER", "DATA_LABEL", "ABSENT", "PAPER_STYLE", "pyplot", "subplots", "data_label", "paper_hline",
           "paper_vline", "paper_points", "paper_curve", "paper_bars", "legend_outside", "absent_panel",
           "artists", "save", "Deferred", "dataset_title"]

PAPER = "paper"
"""``gid`` of every artist that shows a value reported by the document."""
DATA_LABEL = "data-label"
"""``gid`` of the data-set / scale line."""
ABSENT = "absent-panel"
"""``gid`` of the notice in a panel that could not be made."""

PAPER_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.1}
"""How a paper value looks everywhere: black and dashed (lines), hollow (markers), hatched (bars)."""

_RC = {"axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "axes.spines.top": False,
       "axes.spines.right": False, "legend.fontsize": 8, "legend.frameon": False, "axes.titlesize": 10,
       "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.dpi": 100,
       "savefig.dpi": 120}

_DATASET_NAMES = {"digits": "digits (scikit-learn, 8×8)", "fashion-mnist": "Fashion-MNIST", "mnist": "MNIST",
                  "kmnist": "KMNIST", "emnist-digits": "EMNIST digits", "cifar-10": "CIFAR-10",
                  "cifar-100": "CIFAR-100", "mnist-rot": "MNIST_ROT", "svhn": "SVHN", "eurosat": "EuroSAT", "health": "synthetic health data (extremal Sec. 3.1)"}


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend with this project's style applied."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    plt.rcParams.update(_RC)
    return plt


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """``plt.subplots`` in the project's style; returns ``(figure, axes)`` like matplotlib.

    ``squeeze`` defaults to True as in matplotlib; pass ``squeeze=False`` for a 2-D axes array.
    """
    return pyplot().subplots(nrows, ncols, **kwargs)


def dataset_title(name: str) -> str:
    """A reader's name for a data-set key (``"fashion-mnist"`` → ``"Fashion-MNIST"``); unknown keys as given."""
    return _DATASET_NAMES.get(name, name)


def data_label(fig, dataset: str | Sequence[str], scale: str, extra: str | None = None):
    """Write "data: <data set(s)> · <scale> scale [· extra]" in the figure's lower right corner.

    ``dataset`` is one data-set key or several (joined with ", "); keys are shown with :func:`dataset_title`.
    Returns the ``Text`` artist (``gid`` :data:`DATA_LABEL`).
    """
    names = [dataset] if isinstance(dataset, str) else list(dataset)
    if not names:
        raise ValueError("data_label needs at least one data set name")
    text = f"data: {', '.join(dataset_title(n) for n in names)} · {scale} scale"
    if extra:
        text += f" · {extra}"
    return fig.text(0.995, 0.002, text, ha="right", va="bottom", fontsize=7, color="0.35", gid=DATA_LABEL)


def paper_hline(ax, y: float, label: str | None = "paper", **kwargs):
    """A horizontal dashed black line at the document's reported value ``y`` (``gid`` :data:`PAPER`)."""
    return ax.axhline(y, **{**PAPER_STYLE, **kwargs}, label=label, gid=PAPER)


def paper_vline(ax, x: float, label: str | None = "paper", **kwargs):
    """A vertical dashed black line at the document's reported value ``x`` (``gid`` :data:`PAPER`)."""
    return ax.axvline(x, **{**PAPER_STYLE, **kwargs}, label=label, gid=PAPER)


def paper_points(ax, x, y, label: str | None = "paper", marker: str = "o", **kwargs):
    """Hollow black markers at the document's reported points (no line; ``gid`` :data:`PAPER`).

    ``x`` and ``y`` are scalars or equal-length sequences. Returns the ``Line2D``.
    """
    style = {"color": "black", "linestyle": "none", "marker": marker, "markerfacecolor": "none",
             "markersize": 7, "markeredgewidth": 1.3, "zorder": 5}
    (line,) = ax.plot(np.atleast_1d(x), np.atleast_1d(y), **{**style, **kwargs}, label=label, gid=PAPER)
    return line


def paper_curve(ax, x, y, label: str | None = "paper", **kwargs):
    """The document's reported curve as a dashed black line with small hollow markers (``gid`` :data:`PAPER`)."""
    style = {**PAPER_STYLE, "marker": "o", "markersize": 3.5, "markerfacecolor": "none"}
    (line,) = ax.plot(x, y, **{**style, **kwargs}, label=label, gid=PAPER)
    return line


def paper_bars(ax, x, height, width: float = 0.8, label: str | None = "paper", **kwargs):
    """Hollow hatched bars with the document's reported values, to stand beside ours (``gid`` :data:`PAPER`).

    Positions without a reported value may be given as ``nan`` (nothing is drawn there). Returns the bar container.
    """
    height = np.asarray(height, dtype=float)
    x = np.asarray(x, dtype=float)
    keep = np.isfinite(height)
    style = {"fill": False, "hatch": "///", "edgecolor": "black", "linewidth": 0.9}
    bars = ax.bar(x[keep], height[keep], width, **{**style, **kwargs}, label=label, gid=PAPER)
    for patch in bars:
        patch.set_gid(PAPER)
    return bars


def legend_outside(target, where: str = "right", **kwargs):
    """Place a legend where it cannot cover data: right of an axes, or below a whole figure.

    ``target`` is an ``Axes`` (legend of that axes, outside its right edge, or below it with
    ``where="below"``) or a ``Figure`` (one legend for all its axes, duplicate labels merged, centred below
    the axes). Returns the ``Legend``, or None when there is nothing labelled.
    """
    if where not in ("right", "below"):
        raise ValueError(f"where must be 'right' or 'below', not {where!r}")
    from matplotlib.figure import Figure  # noqa: PLC0415
    if isinstance(target, Figure):
        handles, labels = _collect(target.axes)
        if not handles:
            return None
        opts = {"loc": "upper center", "bbox_to_anchor": (0.5, 0.0), "ncol": min(len(handles), 5)}
        return target.legend(handles, labels, **{**opts, **kwargs})
    handles, labels = _collect([target])
    if not handles:
        return None
    if where == "right":
        opts = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0}
    else:
        opts = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.16), "ncol": min(len(handles), 4)}
    return target.legend(handles, labels, **{**opts, **kwargs})


def _collect(axes: Iterable) -> tuple[list, list]:
    handles, labels, seen = [], [], set()
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen:
                seen.add(lab)
                handles.append(h)
                labels.append(lab)
    return handles, labels


def absent_panel(ax, why: str):
    """Mark a panel that could not be made: a grey box with ``"not made: <why>"`` instead of data
    (``why`` wrapped to the panel, at most 7 lines).

    Returns the ``Text`` artist (``gid`` :data:`ABSENT`).
    """
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_linestyle(":")
        spine.set_color("0.6")
    lines = textwrap.wrap(" ".join(str(why).split()), 34) or [""]
    if len(lines) > 7:                 # a long reason (every folder searched) is cut; the results file has it all
        lines = lines[:6] + [lines[6][:30] + " …"]
    return ax.text(0.5, 0.5, "not made:\n" + "\n".join(lines), ha="center", va="center", transform=ax.transAxes,
                   fontsize=8, color="0.3", gid=ABSENT)


def artists(fig, gid: str) -> list:
    """Every artist inside ``fig`` (a Figure or an Axes) whose ``gid`` is ``gid``; a legend's handles carry
    no gid, so each drawn value counts once (tests/test_figures.py checks this with a legend present)."""
    found = fig.findobj(lambda a: a.get_gid() == gid)
    return [a for a in found if a is not fig]


def save(fig, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (temporary file, then rename) and close it.

    The bounding box is tight, so texts and legends outside the axes are kept. Returns the path.
    """
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return write_atomic(path, buf.getvalue())


class Deferred:
    """Figures drawn after a chapter has written its results, so that an error while drawing one
    cannot lose a run's results: the chapter records each figure as its data become ready, writes
    ``results.json``, then calls :meth:`save_all`.

    ``add(path, make, *args, **kwargs)`` records ``make(*args, **kwargs)`` (a function that returns
    a Figure), to be written to ``path`` by :func:`save`; ``add_writer(write, *args, **kwargs)``
    records a function that writes its own file (an animation, say). The arguments are kept as
    given, so pass data that is not changed afterwards. ``save_all()`` runs them in the order
    added, forgets them, and returns what each returned (the paths).
    """

    def __init__(self):
        self._jobs: list = []

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, path: str | Path, make, *args, **kwargs) -> Path:
        path = Path(path)
        self._jobs.append(lambda: save(make(*args, **kwargs), path))
        return path

    def add_writer(self, write, *args, **kwargs) -> None:
        self._jobs.append(lambda: write(*args, **kwargs))

    def save_all(self) -> list:
        jobs, self._jobs = self._jobs, []
        return [job() for job in jobs]
