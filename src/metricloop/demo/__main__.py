"""``python -m metricloop.demo OUT [--scale S] [--seed N] [--start D] [--end D]``.

Generates the demo company, writes it to OUT and prints row counts and timings, so the cost of
generation can be measured with one command. (``metricloop init --demo`` is the user's door.)
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from metricloop.demo.calendar import REFERENCE_END, REFERENCE_START
from metricloop.demo.generator import generate
from metricloop.demo.io import write


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m metricloop.demo", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=REFERENCE_START)
    parser.add_argument("--end", type=date.fromisoformat, default=REFERENCE_END)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    data = generate(args.start, args.end, seed=args.seed, scale=args.scale)
    t1 = time.perf_counter()
    paths = write(data, args.out)
    t2 = time.perf_counter()
    for name, table in data.tables().items():
        print(f"{name:<11} {table.num_rows:>10,} rows  {paths[name].stat().st_size / 1e6:7.1f} MB")
    print(f"incidents   {len(data.incidents):>10}")
    print(f"generate {t1 - t0:.2f} s, write {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
