"""The ``refimpl`` command (also ``python -m refimpl``).

    refimpl verify CANDIDATE [REFERENCE]    compare results.json files (or folders of them) with the reference
    refimpl cases export DIR                write the golden cases (inputs and expected outputs) to DIR
    refimpl cases check DIR --against MOD   run another implementation's adapter MOD on the cases in DIR
    refimpl data                            list the data sets: where searched, found or not, how to get them
    refimpl data get NAME                   download a data set (checksums verified)
    refimpl run [CHAPTER ...] [OPTIONS]     run the chapter scripts (chapters/run_all.py)

Exit status: 0 success; 1 a check failed (differences, failed cases, a failed download); 2 a
command-line or input error (unreadable or invalid results file); 130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["main", "OneLineArgumentParser"]

REPO = Path(__file__).resolve().parents[1]


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``prog: error: message (see prog --help)``),
    exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fail(prog: str, message: str, status: int = 1) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status


# ---- verify ---------------------------------------------------------------------------------

def _verify(args) -> int:
    from .verify import verify  # noqa: PLC0415

    try:
        report = verify(args.candidate, args.reference, rtol=args.rtol, atol=args.atol, notes=args.notes,
                        versions=args.versions, timings=args.timings, strict=args.strict)
    except FileNotFoundError as e:
        return _fail("refimpl verify", str(e), 2)
    print(report.summary() if args.quiet else report.render(limit=None if args.all else 20))
    status = report.exit_status()
    nc = report.not_comparable()
    if nc and status == 0:
        names = ", ".join(sorted({f"{d} (absent in the {w})" for d, w in nc}))
        print(f"warning: {sum(sum(v.values()) for v in nc.values())} entries not comparable: data set {names}; "
              "--strict makes this a failure", file=sys.stderr)
    return status


# ---- cases ----------------------------------------------------------------------------------

def _cases(args) -> int:
    from . import cases  # noqa: PLC0415  (imports every document package: only when asked)

    directory = Path(args.dir)
    if args.cases_cmd == "export":
        if directory.exists() and not directory.is_dir():
            return _fail("refimpl cases export", f"{directory} is not a folder", 2)
        try:
            written = cases.export_cases(directory)
        except OSError as e:
            return _fail("refimpl cases export", f"cannot write the cases to {directory}: {e}", 2)
        print(f"wrote {len(written)} files to {directory}")
        return 0
    if not directory.is_dir():
        return _fail("refimpl cases check", f"{directory} is not a folder (write it with: refimpl cases export DIR)", 2)
    try:
        failed = cases.check_cases(directory, args.against, out=sys.stdout)
    except (OSError, ImportError, ValueError) as e:   # the adapter or a case file (the cases' own errors are caught)
        return _fail("refimpl cases check", str(e), 2)
    return 1 if failed else 0


# ---- data -----------------------------------------------------------------------------------

def _data(args) -> int:
    from .data import catalog  # noqa: PLC0415
    from .data.datasets import DatasetNotFoundError  # noqa: PLC0415

    if args.data_cmd == "get":
        status = 0
        for name in args.names:
            try:
                st = catalog.status(name)
                if st.present:
                    print(f"{name}: already present{f' in {st.found}' if st.found else f' ({st.how_to})'}")
                    continue
                print(f"{name}: downloading into ~/.cache/refimpl/{name} (checksums verified) ...", flush=True)
                print(f"{name}: ready in {catalog.get(name)}")
            except DatasetNotFoundError as e:
                status = _fail("refimpl data get", f"{name}: {str(e).splitlines()[0]}", 1)
            except ValueError as e:
                status = _fail("refimpl data get", str(e), 1)
        return status
    env = os.environ.get("REFIMPL_DATA")
    print(f"Data sets are searched in $REFIMPL_DATA/<name> ({'= ' + env if env else 'not set'}), "
          "~/.cache/refimpl/<name> and /usr/share/datasets/<name>.\n")
    rows = []
    for st in catalog.catalog():
        if st.note in ("embedded", "generated"):
            rows.append((st.name, st.note, st.how_to, ""))
        elif st.note == "unsupported":
            rows.append((st.name, "no loader", st.how_to, ""))
        elif st.found is not None:
            rows.append((st.name, "found", str(st.found), ""))
        else:
            get = (f"get it: refimpl data get {st.name}" if st.downloadable else f"get it: {st.how_to}")
            rows.append((st.name, "absent", "searched " + ", ".join(map(str, st.searched)), get))
    width = max(len(r[0]) for r in rows)
    for name, state, where, get in rows:
        print(f"{name:<{width}}  {state:<9}  {where}")
        if get:
            print(f"{'':<{width}}  {'':<9}  {get}")
    return 0


# ---- run ------------------------------------------------------------------------------------

def _run(args) -> int:
    """``refimpl run [CHAPTER ...] [OPTIONS]``: chapters/run_all.py with ``--only CHAPTER ...``."""
    script = REPO / "chapters" / "run_all.py"
    if not script.is_file():
        return _fail("refimpl run", f"{script} not found: `refimpl run` needs a source checkout of refimpl "
                     "(the chapter scripts are not installed with the package)", 2)
    rest = list(args.rest)
    chapters = []
    while rest and not rest[0].startswith("-"):
        chapters.append(rest.pop(0))
    argv = (["--only", *chapters] if chapters else []) + rest
    spec = importlib.util.spec_from_file_location("refimpl_run_all", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv, prog="refimpl run")


# ---- the parser -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``refimpl`` argument parser (sub-commands verify, cases, data, run); errors are one line."""
    p = OneLineArgumentParser(prog="refimpl", description="refimpl: verify an implementation against the reference outputs, "
                                          "manage data sets, run the chapter scripts.",
                              epilog="Exit status: 0 success; 1 a check failed; 2 a command-line or input error; "
                                     "130 interrupted. `refimpl COMMAND --help` describes each command.")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True)

    v = sub.add_parser("verify", help="compare results.json files (or folders of them) with the reference",
                       description="Compare a candidate results.json (or a folder with one subfolder per chapter) "
                                   "with the reference, entry by entry: table rows matched by their labels, "
                                   "tolerances from the reference file, entries of data sets absent in either run "
                                   "reported as not comparable. Exit status 0: reproduced; 1: an entry differs or "
                                   "is missing (with --strict also: not comparable, or only in the candidate); "
                                   "2: a file is unreadable or does not follow the results schema, or nothing was "
                                   "compared (the candidate has no reference).")
    v.add_argument("candidate", type=Path, help="results.json, or a folder of chapter folders (e.g. runs/quick)")
    v.add_argument("reference", type=Path, nargs="?", default=None,
                   help="results.json or folder (default: the committed reference, figures/ of this checkout)")
    v.add_argument("--rtol", type=_non_negative_float, default=None,
                   help="relative tolerance for every number (overrides the reference's tolerances)")
    v.add_argument("--atol", type=_non_negative_float, default=None,
                   help="absolute tolerance for every number (overrides the reference's tolerances)")
    v.add_argument("--notes", action="store_true", help="also compare free-text notes and free-text metrics")
    v.add_argument("--versions", action="store_true", help="also compare package versions")
    v.add_argument("--timings", action="store_true",
                   help="also compare durations (entries named '...seconds...', elapsed_seconds)")
    v.add_argument("--strict", action="store_true",
                   help="fail on entries that are not comparable (absent data set) or only in the candidate")
    v.add_argument("--all", action="store_true", help="list every difference (default: the first 20 per chapter)")
    v.add_argument("-q", "--quiet", action="store_true", help="print only the one-paragraph summary")
    v.set_defaults(func=_verify)

    c = sub.add_parser("cases", help="export golden cases, or check another implementation against them",
                       description="Golden cases: small inputs with the reference's outputs for single functions "
                                   "(see cases/README.md in the source tree for the adapter interface).")
    csub = c.add_subparsers(dest="cases_cmd", metavar="SUBCOMMAND", required=True)
    ce = csub.add_parser("export", help="write the golden cases to DIR")
    ce.add_argument("dir", metavar="DIR")
    ck = csub.add_parser("check", help="run an adapter module on the cases in DIR; exit 1 if any case fails")
    ck.add_argument("dir", metavar="DIR")
    ck.add_argument("--against", metavar="MODULE", required=True,
                    help="the adapter: an importable module name or a path to a .py file")
    c.set_defaults(func=_cases)

    d = sub.add_parser("data", help="list the data sets (where searched, found or not, how to get them); "
                                    "`data get NAME` downloads one",
                       description="Without a subcommand: list every data set, where it was searched, whether it "
                                   "was found, and how to get it.")
    dsub = d.add_subparsers(dest="data_cmd", metavar="SUBCOMMAND")
    dsub.add_parser("list", help="list the data sets (the default)")
    dg = dsub.add_parser("get", help="download data sets into ~/.cache/refimpl (checksums verified); "
                                     "exit 1 if one cannot be fetched")
    dg.add_argument("names", nargs="+", metavar="NAME")
    d.set_defaults(func=_data)

    r = sub.add_parser("run", add_help=False, help="run chapter scripts (chapters/run_all.py; "
                                                   "`refimpl run --help` for its options)")
    r.add_argument("rest", nargs=argparse.REMAINDER)
    r.set_defaults(func=_run)
    return p


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def main(argv: list[str] | None = None) -> int:
    """Run the ``refimpl`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status
    (0 success, 1 a check failed, 2 a command-line or input error, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:   # everything after `run` is run_all's (argparse would claim --help)
        args = argparse.Namespace(rest=argv[1:], func=_run)
    else:
        args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("\nrefimpl: interrupted; files already written are complete (written atomically)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
