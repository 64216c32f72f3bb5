"""``python -m metricloop.demo OUT [--scale S] [--seed N] [--start D] [--end D] [--in-memory]``.

Generates the demo company, writes it to OUT and prints row counts, time and the process's peak
RSS, so the cost of generation can be measured with one command (streamed a chunk of days at a
time; ``--in-memory`` builds every table first). ``metricloop init --demo`` is the user's door.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date
from pathlib import Path

from metricloop.demo.calendar import REFERENCE_END, REFERENCE_START
from metricloop.demo.generator import generate, plan_chunks
from metricloop.demo.incidents import DEFAULT_INCIDENTS
from metricloop.demo.io import write, write_stream


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m metricloop.demo", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=REFERENCE_START)
    parser.add_argument("--end", type=date.fromisoformat, default=REFERENCE_END)
    parser.add_argument("--in-memory", action="store_true",
                        help="Build every table in memory first (generate + write), as before streaming.")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.in_memory:
        data = generate(args.start, args.end, seed=args.seed, scale=args.scale)
        paths = write(data, args.out)
        rows = {name: table.num_rows for name, table in data.tables().items()}
    else:
        paths, rows = write_stream(args.out, start=args.start, end=args.end, seed=args.seed, scale=args.scale)
    seconds = time.perf_counter() - t0
    for name, n in rows.items():
        print(f"{name:<11} {n:>10,} rows  {paths[name].stat().st_size / 1e6:7.1f} MB")
    chunks = len(plan_chunks(args.start, args.end, args.scale, DEFAULT_INCIDENTS))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    print(f"{'in memory' if args.in_memory else f'{chunks} chunk(s)'}: {seconds:.1f} s, peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
