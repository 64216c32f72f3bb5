"""``metricloop bench detect``: NAB score, labelled-CSV F1, or speed against a per-series model."""

from __future__ import annotations

from pathlib import Path

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.render import emit
from metricloop.errors import ConfigError


@bench_app.command("detect")
def bench_detect(
    dataset: Path | None = typer.Option(None, "--dataset", help="NAB-layout folder (data/, labels/, results/)."),
    data: list[Path] = typer.Option(
        [], "--data", help="Folder of CSVs with timestamp,value,label (any letter case); with --suite repeatable."),
    suite: bool = typer.Option(
        False, "--suite", help="One scoreboard: NAB, Merlion synthetic, business seeds 1 and 2 and any --data "
        "folders; every detector next to a rolling z-score."),
    only: list[str] = typer.Option([], "--only", help="With --suite: only these detectors (repeatable)."),
    sizes: str | None = typer.Option(
        None, "--sizes", help="With --speed: comma-separated series counts (e.g. 1,20,10000), each timed side by "
        "side with a vectorised numpy rolling z-score on the same data."),
    speed: bool = typer.Option(False, "--speed", help="Speed on generated series (seeded)."),
    series: int = typer.Option(10_000, "--series", min=1, help="Speed: number of series."),
    points: int = typer.Option(2_000, "--points", min=10, help="Speed: points per series."),
    baseline: str = typer.Option("prophet", "--baseline", help="Speed: per-series model, prophet|ets|none."),
    subset: int = typer.Option(20, "--subset", min=1, help="Speed: series given to the per-series model."),
    seed: int = typer.Option(7, "--seed", help="Speed: random seed of the generated data."),
    detector: str = typer.Option("default", "--detector", help="Registered detector to score (e.g. nab_sequence)."),
    sensitivity: bool = typer.Option(
        False, "--sensitivity", help="With --dataset: move each knob of the default detector x0.8 and x1.25, one at "
        "a time, and show how NAB and business-series figures move."),
    knob: list[str] = typer.Option([], "--knob", help="With --sensitivity: only these knobs (repeatable)."),
    business: int | None = typer.Option(
        None, "--business", help="Monitors on the seeded business KPIs of this seed (2 = held out): incidents "
        "found and false events after noise control, for the monitor default, default per point and seasonal."),
    fmt: str = typer.Option("table", "--format", help="table|json"),
) -> None:
    """Accuracy and speed of an anomaly detector (the default one unless --detector)."""
    from metricloop.bench import detect as b

    if suite:
        if speed or business is not None or sensitivity:
            raise ConfigError("--suite takes --dataset (NAB), --data folders and --only, not --speed/--business")
        from metricloop.bench import detect_suite as s

        corpora = s.default_corpora(nab_root=dataset, data=data)
        rep = s.suite_report(corpora, detectors=only or None, progress=lambda m: typer.echo(m, err=True))
        emit(rep["rows"], fmt, title="Detection scoreboard (flags at each detector's warning level; NAB standard at "
             f"its corpus-best threshold; delay7 = detected within {rep['delay']} points)", payload=rep)
        return
    chosen = [x for x in (dataset is not None, bool(data), speed, business is not None) if x]
    if len(chosen) != 1 or len(data) > 1:
        raise ConfigError("choose exactly one of --dataset DIR, --data DIR, --speed or --business SEED (or --suite)")
    if (sensitivity or knob) and (dataset is None or detector != "default"):
        raise ConfigError("--sensitivity needs --dataset DIR and the default detector")
    if knob and not sensitivity:
        raise ConfigError("--knob only applies with --sensitivity")
    if dataset is not None and sensitivity:
        rep = b.sensitivity_report(dataset, knobs=knob or b.SENSITIVITY_KNOBS)
        emit(rep["rows"], fmt, title=f"Sensitivity of the default detector ({rep['files']} NAB files; NAB standard, "
             "business F1 at warning; d_ = change from the default)", payload=rep)
    elif dataset is not None:
        rep = b.nab_report(dataset, detector=detector)
        emit(rep["rows"], fmt, title=f"NAB ({rep['files']} files, {rep['windows']} windows, normalized scores)",
             payload=rep)
    elif business is not None:
        rep = b.business_monitor_report(seed=business)
        emit(rep["rows"], fmt, title=f"Monitors on {rep['series']} business KPIs (seed {rep['seed']}), events after "
             "noise control", payload=rep)
    elif data:
        rep = b.data_report(data[0], detector=detector)
        emit([rep["total"]], fmt, title="Event-level accuracy (point-adjust)", payload=rep)
        if fmt == "table":
            emit(rep["files"], fmt, title="Per file")
    elif sizes:
        from metricloop.bench import detect_suite as s

        try:
            counts = [int(x) for x in sizes.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--sizes: expected comma-separated integers, got {sizes!r}") from None
        rep = s.speed_sizes(counts, points, detector=detector, seed=seed)
        emit(rep["rows"], fmt, title=f"Speed: {detector} and a numpy rolling z-score, {points} points per series",
             payload=rep)
    else:
        rep = b.speed_report(series, points, baseline=None if baseline == "none" else baseline,
                             subset=subset, seed=seed, detector=detector)
        title = f"Speed: {series} series × {points} points"
        if rep.get("speedup_vs_baseline"):
            title += f" — {rep['speedup_vs_baseline']:,.0f}× the per-series {baseline} throughput"
        emit(rep["rows"], fmt, title=title, payload=rep)
