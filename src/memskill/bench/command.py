"""`memskill bench …`: the command's flags and which benchmark each kind runs.

The benchmark modules are imported only when their kind runs (some pull in the server, PostgreSQL's
driver or a whole pipeline), so the command line stays quick to start.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from memskill.bench.report import Progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bench` subcommand's arguments (each says which kinds read it)."""
    parser.add_argument("kind", choices=["quality", "llm", "perf", "crash", "calibrate", "fetch"])
    parser.add_argument("--kills", type=int, default=100, help="crash: SIGKILLs of the API or worker process")
    parser.add_argument("--seed", type=int, help="crash: random seed (default: a new one, printed)")
    parser.add_argument("--seconds", type=float, default=0.0, help="crash: the shortest time under load")
    parser.add_argument(
        "--database-url",
        help="crash: an empty PostgreSQL database instead of SQLite; perf: one to measure beside SQLite",
    )
    parser.add_argument("--repeats", type=int, default=3, help="llm: runs to average over")
    parser.add_argument(
        "--memories",
        help="perf: the user's memories at each step (comma list, default 1000,10000,100000); "
        "calibrate: the synthetic memories beside the paraphrase set (default 10000)",
    )
    parser.add_argument(
        "--peer",
        choices=["mem0"],
        help="perf: the same memories and queries through mem0 OSS too (pip install 'memskill[peer]')",
    )
    parser.add_argument("--workdir", help="perf: build the stores here and keep them (default: a temp dir)")
    parser.add_argument("--skip-install-size", action="store_true", help="perf: do not build a virtualenv")
    parser.add_argument(
        "--data", help="folder holding the public data sets (default ../shared/data, else the fetched copy)"
    )
    parser.add_argument("--to", help="fetch: where to put the data sets (default $MEMSKILL_HOME/data)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--quick", action="store_true", help="a small subset (for CI)")
    parser.add_argument(
        "--only",
        help="quality: comma-separated stages "
        "(turns,segmentation,clustering,retrieval,preferences,skills,unseen); "
        "fetch: comma-separated data sets (tiage,locomo,…)",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO, progress: Progress) -> int:
    """Run the benchmark `args.kind` names; `progress(label, done, total)` reports long work."""
    from memskill.bench.quality import run_quality, write_json

    if args.kind == "llm":
        return _llm(args, out, err)
    if args.kind == "crash":
        from memskill.bench.crash import run_from_cli as run_crash_from_cli

        return run_crash_from_cli(args, out, err)
    if args.kind == "perf":
        from memskill.bench.perf import run_from_cli

        return run_from_cli(args, out, err)
    if args.kind == "fetch":
        from memskill.bench.fetch import run_from_cli as run_fetch_from_cli

        return run_fetch_from_cli(args, out, err)
    if args.kind == "calibrate":
        from memskill.bench.calibrate import run_from_cli as run_calibrate_from_cli

        return run_calibrate_from_cli(args, out, err, progress)
    from memskill.bench.fetch import find_data

    only = [name.strip() for name in (args.only or "").split(",") if name.strip()]
    report = run_quality(
        find_data(args.data),
        args.quick,
        progress,
        only,
        err,
    )
    out.write(report["table"] + "\n")
    if args.json:
        write_json(report, Path(args.json))
        err.write(f"raw results written to {args.json}\n")
    return 0


def _llm(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.bench.llm import format_cost, run_llm_bench
    from memskill.bench.quality import write_json

    err.write("ingesting the demo conversations algorithmically and through the fake model…\n")
    cost = run_llm_bench(repeats=args.repeats)
    out.write(format_cost(cost) + "\n")
    if args.json:
        write_json(cost.as_dict(), Path(args.json))
        err.write(f"raw results written to {args.json}\n")
    return 0
