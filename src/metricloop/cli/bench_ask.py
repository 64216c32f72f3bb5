"""``metricloop bench ask``: exact-match accuracy of the assistant's structured requests on the
question set (design and held-out halves), per language and intent, the clarification rate, the
answers that silently drop a filter or a time range, and the median answer time offline."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from metricloop.cli.bench import bench_app
from metricloop.cli.render import console, emit
from metricloop.errors import ConfigError


@bench_app.command("ask")
def bench_ask(
    project: Path | None = typer.Option(None, "--project", "-p",
                                        help="A demo project (default: build one at --scale in a temporary folder)."),
    scale: float = typer.Option(0.05, "--scale", help="Demo data volume when building one."),
    sets: str = typer.Option("design,heldout,fresh", "--sets", help="Comma-separated: design, heldout, fresh."),
    execute: bool = typer.Option(True, "--execute/--no-execute", help="Also answer each question (timed)."),
    failures: bool = typer.Option(False, "--failures", help="List the questions answered wrongly."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Accuracy per set, language and intent; clarification rate; silently dropped filters/times; median ms."""
    from metricloop.assistant import bench
    from metricloop.service import MetricLoop

    chosen = tuple(s.strip() for s in sets.split(",") if s.strip())
    if not chosen or any(s not in bench.SETS for s in chosen):
        raise ConfigError(f"--sets {sets!r}: expected design, heldout and/or fresh",
                          zh=f"--sets {sets!r}：应为 design、heldout、fresh 中的一个或多个")
    tmp = None
    if project is None:
        from metricloop import scaffold

        tmp = tempfile.TemporaryDirectory(prefix="metricloop-bench-ask-")
        project = Path(tmp.name) / "shop"
        scaffold.init_demo(project, scale=scale)
    ml = MetricLoop.open(project)
    try:
        assistant = ml.assistant
        _, parser = assistant.parser()
        parser.parse("预热 warm up 上周华东的成交额", assistant.now())  # jieba's dictionary loads once
        outcomes = bench.run(lambda q, now: parser.parse(q, now),
                             (lambda q, now: assistant.ask(q, now=now)) if execute else None, chosen)
    finally:
        ml.close()
        if tmp is not None:
            tmp.cleanup()
    report = bench.summary(outcomes)
    payload = {"project": str(project), "sets": list(chosen), **report,
               "failures": [vars(o) for o in outcomes if not o.exact or o.dropped] if failures else None}
    emit(report["rows"], fmt, title="bench ask — exact structured request per set, language, intent", payload=payload)
    if fmt == "table":
        for name, t in report["totals"].items():
            console.print(f"[bold]{name}[/]: {t['questions']} questions, exact {t['exact']:.1%} "
                          f"(zh-CN {t['per_language'].get('zh-CN', 0):.1%}, en {t['per_language'].get('en', 0):.1%}), "
                          f"lowest intent {t['min_intent']:.1%}, clarification rate {t['clarification_rate']:.1%}, "
                          f"silently dropped {t['silently_dropped']}, median {t['median_ms']} ms, p90 {t['p90_ms']} ms",
                          highlight=False)
        if failures:
            for o in outcomes:
                if not o.exact or o.dropped:
                    console.print(f"[red]✗[/] {o.set}/{o.lang}/{o.intent} {o.question!r}: wrong {o.wrong} "
                                  f"dropped {o.dropped} got {o.got}", highlight=False)
