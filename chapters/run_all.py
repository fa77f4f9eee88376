"""Run every chapter script and summarise: the main job of refimpl.

    python chapters/run_all.py --scale quick

runs each ``chapters/<name>.py`` that exists (in a fixed order) as a separate process with the
same ``--scale``/``--seed``/``--device`` options, streams its output, and writes
``figures/run_all_<scale>.json`` with each chapter's status, exit code and elapsed seconds.
It exits with status 1, naming the failed chapters, if any chapter fails.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import REPO, print_table  # noqa: E402

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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=("quick", "paper"), default="quick")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--only", nargs="*", default=None, metavar="CHAPTER",
                   help=f"run only these chapters (names from: {', '.join(CHAPTERS)})")
    args = p.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(CHAPTERS))
    if unknown:
        p.error(f"unknown chapters {unknown}; choose from {', '.join(CHAPTERS)}")

    chapters_dir = REPO / "chapters"
    summary = {"scale": args.scale, "seed": args.seed, "device": args.device,
               "versions": package_versions(), "chapters": {}}
    for name in CHAPTERS:
        if args.only is not None and name not in args.only:
            continue
        script = chapters_dir / f"{name}.py"
        if not script.exists():
            summary["chapters"][name] = {"status": "not implemented", "returncode": None, "seconds": 0.0}
            continue
        print(f"\n=== {name} (--scale {args.scale}) ===", flush=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, str(script), "--scale", args.scale, "--seed", str(args.seed),
               "--device", args.device, "--no-progress"]
        rc = subprocess.call(cmd, cwd=REPO)
        summary["chapters"][name] = {"status": "ok" if rc == 0 else "FAILED", "returncode": rc,
                                     "seconds": round(time.perf_counter() - t0, 1)}

    rows = [[n, c["status"], c["seconds"]] for n, c in summary["chapters"].items()]
    print_table(f"run_all --scale {args.scale}", ["chapter", "status", "seconds"], rows)
    out = write_atomic(REPO / "figures" / f"run_all_{args.scale}.json", json.dumps(summary, indent=2) + "\n")
    print(f"summary written to {out.relative_to(REPO)}")
    failed = [n for n, c in summary["chapters"].items() if c["status"] == "FAILED"]
    if failed:
        print(f"FAILED chapters: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
