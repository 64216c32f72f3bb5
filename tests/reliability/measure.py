"""Figures for the README: an undisturbed backfill against one killed with SIGKILL and rerun, and
the time the backfill takes (to weigh the exactly-once bookkeeping: run it against the source
before and after, same machine, same moment).

    python -m tests.reliability.measure [--repeat 3] [--src DIR] [--flood]

``--src DIR`` runs the ``metricloop`` processes from another source tree (e.g. the commit before
the change, unpacked with ``git archive``), so both versions are measured by the same script.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.reliability.project import DROPS, FLOOD_DROPS, backfill_args, copy_project, count, env, state_url


def _run(root: Path, src: str | None, *args: str) -> subprocess.Popen[str]:
    extra = {"PYTHONPATH": src} if src else {}
    return subprocess.Popen([sys.executable, "-m", "metricloop", *args, "-p", str(root)], env=env(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _facts(root: Path) -> dict[str, int]:
    url = state_url(root)
    return {
        "incidents": count(url, "select count(*) from wf_incidents"),
        "distinct_incidents": count(url, "select count(*) from (select distinct metric, window_start "
                                         "from wf_incidents) x"),
        "alerts": count(url, "select count(*) from wf_alerts"),
        "outbox": count(url, "select count(*) from notify_outbox"),
        "anomalies": count(url, "select count(*) from det_anomalies where state = 'active'"),
    }


def backfill_seconds(root: Path, src: str | None) -> float:
    """The in-process seconds the backfill reports (``seconds`` in its JSON): start-up excluded."""
    proc = _run(root, src, *backfill_args("--no-notify", "--format", "json"))
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(out)
    return float(_json(out)["seconds"])


def _json(out: str) -> dict[str, object]:
    """The JSON object ``--format json`` printed (warnings may surround it)."""
    data, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
    return dict(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--src", default=None, help="source tree to run metricloop from (default: installed)")
    ap.add_argument("--flood", action="store_true", help="the 1,000-alert project (40 regions, 25 drops)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"  # written (its state store migrated) by the measured code
        here = str(Path(__file__).resolve().parents[2])
        code = (f"from tests.reliability.project import write_project; "
                f"write_project(__import__('pathlib').Path({str(template)!r}), flood={args.flood})")
        subprocess.run([sys.executable, "-c", code], check=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (args.src, here) if p)})
        times = []
        for i in range(args.repeat):
            root = copy_project(template, Path(tmp) / f"undisturbed{i}")
            times.append(backfill_seconds(root, args.src))
        undisturbed = _facts(root)

        root = copy_project(template, Path(tmp) / "disturbed")
        url = state_url(root)
        proc = _run(root, args.src, *backfill_args("--no-notify"))
        while proc.poll() is None and count(url, "select count(*) from wf_incidents") == 0:
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        at_kill = _facts(root)
        rerun = _run(root, args.src, *backfill_args("--no-notify", "--format", "json"))
        out, _ = rerun.communicate(timeout=600)
        resumed = _facts(root)
    print(json.dumps({
        "injected_drops": len(FLOOD_DROPS if args.flood else DROPS),
        "undisturbed": undisturbed,
        "killed_at": at_kill,
        "after_rerun": resumed,
        "rerun_summary": _json(out) if "{" in out else out[-500:],
        "backfill_seconds": times,
        "backfill_seconds_median": statistics.median(times),
    }, indent=2, default=str))


if __name__ == "__main__":
    main()
