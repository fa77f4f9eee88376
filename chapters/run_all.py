"""Run every chapter script and summarise: the main job of refimpl.

    python chapters/run_all.py --scale quick

runs each ``chapters/<name>.py`` that exists (in a fixed order) as a separate process with the
same ``--scale``/``--seed``/``--device`` options, writing into ``OUT/<chapter>/`` (default
``runs/<scale>/``, git-ignored), streams its output, and prints one progress line per chapter
(elapsed time and an overall bar; the chapters' own progress bars when run on a terminal).
It writes its summary (each chapter's status, exit code and seconds) beside the outputs, in
``OUT/run_all_<scale>.json``; a ``--only`` run writes ``OUT/run_all_<scale>.partial.json``
instead and leaves the full summary alone. It ends by comparing its outputs with the committed
reference ``figures/`` (``refimpl verify``) and printing a one-paragraph summary: how many
reference entries it reproduced, how many differ, and which are not comparable and why.

The committed reference is rewritten only on request: ``--update-reference`` writes into
``figures/<chapter>/`` (quick scale) or ``figures/<chapter>/paper/`` (paper scale, with ``--only``:
paper-scale references exist only for the chapters whose paper scale fits on a small machine, see the
README), and nothing is verified then. A paper-scale run is verified against the paper-scale references.

Ctrl-C stops the running chapter and the job with a one-line message; every file is written
atomically, so none is left half-written, and no summary is written.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import (CHAPTER_OUTPUT, EXIT_INTERRUPTED, EXIT_NO_DATA, GPU_CHAPTERS, REPO,  # noqa: E402
                  ChapterArgumentParser, non_negative_int, output_folder, print_table)

from refimpl.results import package_versions, write_atomic  # noqa: E402

#: chapter scripts in reading order (one per document / thesis chapter)
CHAPTERS = (
    "interval_significance",   # interval: Afghan & Naumann
    "nn_surgery",              # surgery: Schiessler et al.
    "accountable_accuracy",    # accountability: Pan et al.
    "thesis_ch3_cnmc",         # thesis ch. 3: SE-ResNeXt fine-tuning recipe (C-NMC stand-in)
    "thesis_ch5_evolution",    # thesis ch. 4-5: population EA for weights
    "thesis_ch6_atari",        # thesis ch. 6: EA for Atari agents
    "thesis_ch7_nas",          # thesis ch. 7: Lamarckian NAS with weight inheritance
    "thesis_ch8_lws",          # thesis ch. 8: learned weight sharing
    "extremal_learning",       # extremal: Patel & Rummel
)
REFERENCE = REPO / "figures"

EPILOG = """exit status:
  0    every chapter ran (differences from the reference are reported in the last lines, not
       failures: `refimpl verify OUT` exits non-zero on them)
  1    a chapter failed (named at the end)
  2    command-line error (e.g. a --reference that does not exist, checked before anything runs);
       or the outputs could not be checked: the verification at the end compared nothing (no
       reference entry for any chapter that finished) or found a results file it cannot read,
       as `refimpl verify` exits 2 then (--no-verify skips the check)
  130  interrupted (Ctrl-C); no summary written, no file half-written"""


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{total}"


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _run_chapter(cmd: list[str]) -> tuple[int, bool]:
    """Run one chapter; (exit status, interrupted). On Ctrl-C the chapter (which got the same
    SIGINT from the terminal) is given time to stop cleanly, then asked again, then killed."""
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "REFIMPL_RUN_ALL": "1"})
    try:
        return proc.wait(), False
    except KeyboardInterrupt:
        for action, grace in ((None, 5), (signal.SIGINT, 10), (signal.SIGKILL, None)):
            if action is not None and proc.poll() is None:
                proc.send_signal(action)
            try:
                return proc.wait(timeout=grace), True
            except subprocess.TimeoutExpired:
                continue
            except KeyboardInterrupt:
                continue
        return proc.wait(), True


def main(argv=None, prog: str | None = None) -> int:
    aliases = {v: k for k, v in CHAPTER_OUTPUT.items()}
    p = ChapterArgumentParser(prog=prog, description=__doc__, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.gpu = True
    p.add_argument("--scale", choices=("quick", "paper"), default="quick",
                   help="quick: minutes on 2 CPU cores (default); paper: the documents' settings (hours to weeks)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="base random seed for every chapter, >= 0 (default 0)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help=f"gpu: chapters with a GPU path ({', '.join(GPU_CHAPTERS)}) run on CuPy, the others on the CPU")
    p.add_argument("--only", nargs="+", default=None, metavar="CHAPTER",
                   help=f"run only these chapters (script names: {', '.join(CHAPTERS)}; or output names: "
                        f"{', '.join(CHAPTER_OUTPUT.values())}); the summary goes to run_all_<scale>.partial.json")
    p.add_argument("--out", type=output_folder, default=None, metavar="DIR",
                   help="output folder, one subfolder per chapter, created if absent; an existing file is refused "
                        "(default runs/<scale> in the repository)")
    p.add_argument("--update-reference", action="store_true",
                   help="write into the committed reference instead: figures/<chapter>/ (quick scale) or "
                        "figures/<chapter>/paper/ (paper scale; needs --only)")
    p.add_argument("--reference", type=Path, default=REFERENCE,
                   help="what the outputs are verified against at the end (default: figures/)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="do not compare the outputs with the reference at the end")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide the chapters' progress bars (they are shown only on a terminal anyway)")
    args = p.parse_args(argv)
    only = None
    if args.only is not None:
        unknown = sorted(set(args.only) - set(CHAPTERS) - set(aliases))
        if unknown:
            p.error(f"unknown chapters {', '.join(unknown)}; choose from {', '.join(CHAPTERS)} "
                    f"(or {', '.join(aliases)})")
        only = {aliases.get(n, n) for n in args.only}
    if args.verify and not args.update_reference and not args.reference.exists():
        p.error(f"the reference {args.reference} does not exist (give an existing --reference, or --no-verify)")
    if args.update_reference:
        if args.out is not None:
            p.error("--update-reference writes into figures/; it cannot be combined with --out")
        if args.scale == "paper" and only is None:
            p.error("--update-reference --scale paper needs --only: paper-scale references are kept only for the "
                    "chapters whose paper scale fits on a small machine (see the README)")
        out = REFERENCE
    else:
        out = args.out if args.out is not None else REPO / "runs" / args.scale
    is_reference = out.resolve() == REFERENCE.resolve()
    out.mkdir(parents=True, exist_ok=True)

    todo = [n for n in CHAPTERS if only is None or n in only]
    runnable = [n for n in todo if (REPO / "chapters" / f"{n}.py").exists()]
    progress = args.progress and sys.stdout.isatty()
    print(f"run_all --scale {args.scale}: {len(runnable)} chapter{'s' if len(runnable) != 1 else ''} -> "
          f"{_rel(out)}{' (the committed reference)' if is_reference else ''}", flush=True)
    summary = {"scale": args.scale, "seed": args.seed, "device": args.device, "partial": only is not None,
               "versions": package_versions(), "chapters": {}}
    t_start = time.perf_counter()
    done = 0
    for name in todo:
        script = REPO / "chapters" / f"{name}.py"
        output = CHAPTER_OUTPUT[name]
        if not script.exists():
            summary["chapters"][name] = {"status": "not implemented", "returncode": None, "seconds": 0.0,
                                         "output": output}
            continue
        target = out / output / "paper" if is_reference and args.scale == "paper" else out / output
        print(f"\n=== [{done + 1}/{len(runnable)}] {name} (--scale {args.scale}) -> {_rel(target)} ===", flush=True)
        t0 = time.perf_counter()
        device = args.device if output in GPU_CHAPTERS else "cpu"
        cmd = [sys.executable, str(script), "--scale", args.scale, "--seed", str(args.seed),
               "--device", device, "--out", str(target)] + ([] if progress else ["--no-progress"])
        rc, interrupted = _run_chapter(cmd)
        if interrupted or rc == EXIT_INTERRUPTED:
            print(f"\nrun_all: interrupted during {name} after {_clock(time.perf_counter() - t_start)}; stopped. "
                  f"No summary written; no file is half-written (files are written atomically).", file=sys.stderr)
            return EXIT_INTERRUPTED
        status = "ok" if rc == 0 else "no data" if rc == EXIT_NO_DATA else "FAILED"
        seconds = round(time.perf_counter() - t0, 1)
        summary["chapters"][name] = {"status": status, "returncode": rc, "seconds": seconds, "output": output}
        done += 1
        print(f"{_bar(done, len(runnable))}  {name}: {status} in {seconds:.1f} s "
              f"(total {_clock(time.perf_counter() - t_start)})", flush=True)

    rows = [[n, c["status"], c["seconds"]] for n, c in summary["chapters"].items()]
    print_table(f"run_all --scale {args.scale}", ["chapter", "status", "seconds"], rows)
    if only is None:
        path = write_atomic(out / f"run_all_{args.scale}.json", json.dumps(summary, indent=2) + "\n")
        print(f"summary written to {_rel(path)}")
    elif not is_reference:
        path = write_atomic(out / f"run_all_{args.scale}.partial.json", json.dumps(summary, indent=2) + "\n")
        print(f"summary of this partial run written to {_rel(path)} (the full summary is left as it was)")
    failed = [n for n, c in summary["chapters"].items() if c["status"] == "FAILED"]
    unchecked = False
    no_data = [n for n, c in summary["chapters"].items() if c["status"] == "no data"]

    if is_reference:
        print("\nthe reference in figures/ was rewritten; nothing to verify it against "
              "(`git diff --stat figures/` shows what changed)")
    elif args.verify:
        ok = [CHAPTER_OUTPUT[n] for n, c in summary["chapters"].items() if c["status"] == "ok"]
        print()
        if not ok:
            print("nothing to verify: no chapter finished")
        else:
            from refimpl.verify import verify  # noqa: PLC0415
            try:
                report = verify(out, args.reference, chapters=ok)
            except FileNotFoundError as e:   # no results.json in the outputs or in the reference
                print(f"nothing verified: {e}")
                unchecked = True
            else:
                print(report.summary())
                unchecked = report.exit_status() == 2
                print(f"Details (every difference with both values and its tolerance): "
                      f"refimpl verify {_rel(out)}" + ("" if args.reference == REFERENCE else f" {_rel(args.reference)}"))
        if failed or no_data:
            print("Not verified: " + "; ".join(
                [f"{', '.join(failed)} failed"] * bool(failed) + [f"{', '.join(no_data)} had no data set"] * bool(no_data)))
    if failed:
        print(f"FAILED chapters: {', '.join(failed)}", file=sys.stderr)
        return 1
    if unchecked:
        print(f"run_all: the outputs in {_rel(out)} were not checked against {_rel(args.reference)} "
              "(see the Result above)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C outside a chapter (e.g. while verifying)
        print("\nrun_all: interrupted; no file is half-written (files are written atomically)", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
