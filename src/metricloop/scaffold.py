"""``metricloop init``, ``catalog infer``, ``monitors suggest``: a new project, from an empty folder to
watched metrics. The proposals are domain code (``catalog/infer.py``, ``detect/suggest.py``); this
module reads the warehouse for them and writes the files."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metricloop.errors import ConfigError, MetricLoopError
from metricloop.project import PROJECT_FILE

if TYPE_CHECKING:
    from metricloop.catalog.infer import TableProfile
    from metricloop.catalog.models import Metric
    from metricloop.detect.suggest import MetricFacts, Suggestion
    from metricloop.service import MetricLoop

DEMO_TEMPLATE = Path(__file__).parent / "demo" / "project"
StepProgress = Callable[[str, float], None]
log = logging.getLogger(__name__)

EMPTY_CONFIG = """\
# MetricLoop project settings. Reference: docs/reference/project.md, or `metricloop schema project`.
name: {name}
timezone: {timezone}   # IANA zone: periods, schedules and the times people read use it
locale: {locale}               # zh-CN | en: language of messages, the UI and the CLI
warehouse:
  type: duckdb               # duckdb (embedded; `metricloop ingest` loads it) | postgres | mysql
  path: warehouse.duckdb     # for postgres/mysql: url: postgresql://user:${{PGPASSWORD}}@host/db
# state:
#   url: postgresql://metricloop:${{STATE_PASSWORD}}@db/metricloop   # default: SQLite in .metricloop/
# tables:                    # data-quality checks run after each load
#   orders: {{time_column: order_time, freshness_sla: 2 hours, unique_key: [order_id]}}
"""

EXAMPLE_MODEL = """\
# Semantic models and metrics (keys follow dbt MetricFlow, plus governance: labels, 口径, unit,
# tier, owners). `metricloop catalog infer TABLE --write` writes a first model from a loaded table.
# Reference: docs/reference/models.md, or `metricloop schema models`.
#
# semantic_models:
#   - name: orders
#     table: orders
#     defaults: {agg_time_dimension: order_time}
#     entities: [{name: order, type: primary, expr: order_id}]
#     dimensions:
#       - {name: order_time, type: time, type_params: {time_granularity: hour}}
#       - {name: city, type: categorical, label: {zh-CN: 城市, en: City}}
#     measures:
#       - {name: order_amount, agg: sum, expr: amount}
#       - {name: order_count, agg: count, expr: order_id}
# metrics:
#   - name: gmv
#     label: {zh-CN: 成交额, en: GMV}
#     business_definition: {zh-CN: 已支付订单金额之和, en: Sum of paid order amounts}
#     measure: order_amount
#     unit: currency:CNY
#     format: ",.0f"
#     polarity: higher_is_better   # higher_is_better | lower_is_better | neutral: which way is bad news
#     tier: north_star             # north_star | primary | secondary | diagnostic: how loud its monitors are
#     owners: {business: [me]}     # person ids from owners.yaml
"""

EXAMPLE_MONITORS = """\
# Monitors: what to watch, how and how loud. `metricloop monitors suggest --write` proposes them
# from the catalog and the data (writes monitors/suggested.yaml). Reference: docs/reference/monitors.md.
#
# monitors:
#   - name: gmv_by_city
#     metric: gmv
#     by: [city]                # one series per city, plus the total
#     top_n: 10                 # the 10 largest cities by volume
#     grain: hour               # minute | hour | day | week | month
#     schedule: "5 * * * *"     # cron, in the project timezone
#     delay: 5m                 # judge an hour once it is 5 minutes old
#     detectors:
#       - {type: seasonal, params: {warning: 4, critical: 6}}   # same hour of the week, 8 weeks
#     noise: {min_rel_deviation: 0.15, consecutive: 2, cooldown: 6, calendars: [cn_holidays]}
"""

STARTER_OWNERS = """\
# Responsibility table: who owns which metric and slice, who is next when nobody answers.
# Reference: docs/reference/owners.md, or `metricloop schema owners`.
people:
  me: {{name: {user}, email: me@example.com, team: data}}    # replace with real people (ids are yours)
teams:
  data: {{name: {{zh-CN: 数据团队, en: Data}}, lead: me}}
# First matching rule wins. Slice rules first, e.g. {{slice: {{city: beijing}}, owner: someone}}.
rules:
  - {{owner: from_catalog}}   # any metric: its first business owner (models/*.yaml owners:), if listed above
  - {{owner: me}}             # everything else
# Unacknowledged incidents climb this chain (delays from when the incident opened).
escalation:
  - {{after: 30 minutes, to: owner}}
  - {{after: 2 hours, to: team_lead}}
sla:
  group_window: 6 hours   # anomalies of one metric this close together form one incident
# Where incidents are announced when neither the rule nor the owner's team names channels.
channels: [team-webhook]
"""

STARTER_CHANNELS = """\
# Notification channels. URLs and secrets are credentials: write them as ${{ENV_VAR}}; they are
# masked in every log line, error and API answer. Until they are set, `metricloop run` opens and
# tracks incidents and keeps this channel's messages queued (it names the missing variable); they
# go out, once each, when the variable is set.
# Reference: docs/reference/channels.md, or `metricloop schema channels`.
channels:
  - name: team-webhook
    type: webhook                    # Standard Webhooks (webhook-id / -timestamp / -signature)
    url: ${{ML_WEBHOOK_URL}}
#   secret: ${{ML_WEBHOOK_SECRET}}    # whsec_…: signs every delivery (optional)
#  - name: ops-dingtalk
#    type: dingtalk
#    url: ${{ML_DINGTALK_URL}}         # https://oapi.dingtalk.com/robot/send?access_token=…
#    secret: ${{ML_DINGTALK_SECRET}}   # 加签 SEC…
#    keyword: 告警
#    fallback: team-webhook
#  - name: ops-wecom
#    type: wecom
#    url: ${{ML_WECOM_URL}}
#  - name: ops-feishu
#    type: feishu
#    url: ${{ML_FEISHU_URL}}
#  - name: ops-email
#    type: email
#    smtp: {{host: "${{ML_SMTP_HOST}}", port: 587, security: starttls,
#           username: alerts, password: "${{ML_SMTP_PASSWORD}}"}}
#    sender: alerts@example.com
#    to: [ops@example.com]
"""

GITIGNORE = ".metricloop/\n*.duckdb\n*.duckdb.wal\ndata/\n"


def _prepare(directory: Path, force: bool) -> None:
    if directory.exists() and any(directory.iterdir()) and not force:
        if (directory / PROJECT_FILE).exists():
            raise ConfigError(
                f"{directory} already holds a project (use --force to overwrite it)",
                zh=f"{directory} 已经是一个项目（用 --force 覆盖）",
            )
        raise ConfigError(
            f"{directory} is not empty (use --force to write into it)",
            zh=f"{directory} 不是空目录（用 --force 强制写入）",
        )
    directory.mkdir(parents=True, exist_ok=True)


def init_empty(directory: Path, *, force: bool = False, timezone: str = "Asia/Shanghai",
               locale: str = "zh-CN") -> list[Path]:
    """A starter that runs: settings, owners, channels, a commented model and monitor file, and the
    JSON Schemas the files point their editors at. Returns the files written."""
    from metricloop import schemas

    _prepare(directory, force)
    for sub in ("models", "monitors"):
        (directory / sub).mkdir(exist_ok=True)
    user = os.environ.get("METRICLOOP_USER") or "Me"
    files = {
        PROJECT_FILE: schemas.modeline("project")
        + EMPTY_CONFIG.format(name=directory.resolve().name, timezone=timezone, locale=locale),
        "owners.yaml": schemas.modeline("owners") + STARTER_OWNERS.format(user=user),
        "channels.yaml": schemas.modeline("channels") + STARTER_CHANNELS.format(),
        "models/example.yaml": schemas.modeline("models", 1) + EXAMPLE_MODEL,
        "monitors/example.yaml": schemas.modeline("monitors", 1) + EXAMPLE_MONITORS,
        ".gitignore": GITIGNORE,
    }
    written = []
    for rel, text in files.items():
        path = directory / rel
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return [*written, *schemas.write_all(directory / schemas.FOLDER)]


DEMO_LOAD_MEMORY = "768MB"


def init_demo(
    directory: Path, *, force: bool = False, seed: int = 42, scale: float = 1.0, progress: StepProgress | None = None
) -> dict[str, Any]:
    """Write the demo company's project files, generate its data and load it into DuckDB."""
    from metricloop import demo
    from metricloop.service import MetricLoop

    def step(name: str, frac: float) -> None:
        if progress:
            progress(name, frac)

    _prepare(directory, force)
    step("writing project", 0.02)
    for src in DEMO_TEMPLATE.rglob("*"):
        if src.is_file() and "__pycache__" not in src.parts:
            dst = directory / src.relative_to(DEMO_TEMPLATE)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    (directory / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    step("generating two years of data", 0.05)
    files, _ = demo.write_stream(directory / "data", seed=seed, scale=scale)  # a chunk of days at a time
    ml = MetricLoop.open(directory)
    try:
        # DuckDB spills to disk past this, so loading scale 20 (70 M rows) fits beside the process
        ml.duckdb().connection.execute(f"SET memory_limit = '{DEMO_LOAD_MEMORY}'")
        rows = 0
        tables = [t for t in files if t != "ground_truth"]
        for i, table in enumerate(tables):
            step(f"loading {table}", 0.5 + 0.4 * i / max(len(tables), 1))
            result, _ = ml.ingest(str(files[table]), table, mode="replace")
            rows += result.rows_loaded
        step("recording the catalog", 0.95)
        ml.validate()
        ml.sync_catalog(reason="demo project created")
        step("done", 1.0)
        return {
            "rows": rows,
            "tables": tables,
            "metrics": len(ml.catalog.metrics),
            "ground_truth": str(files.get("ground_truth", "")),
        }
    finally:
        ml.close()


# ---------------------------------------------------------------------------------- catalog infer
def profile_table(ml: MetricLoop, table: str) -> TableProfile:
    """Column kinds, distinct and null counts, and the clock grain of time columns (3 queries)."""
    import pyarrow as pa
    import sqlglot.expressions as exp

    from metricloop.catalog.infer import ColumnProfile, TableProfile
    from metricloop.catalog.models import Grain

    wh = ml.warehouse()
    dialect = getattr(wh, "dialect", "duckdb")
    tbl = exp.to_table(table).sql(dialect)
    try:
        schema = wh.execute(f"SELECT * FROM {tbl} LIMIT 0").schema
    except Exception as exc:
        raise ConfigError(f"cannot read table {table!r} in the warehouse: {str(exc).splitlines()[0]}",
                          zh=f"无法读取数据仓库中的表 {table!r}（先用 metricloop ingest 加载）") from None

    def kind(t: pa.DataType) -> str:
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return "time"
        if pa.types.is_boolean(t):
            return "bool"
        if pa.types.is_integer(t):
            return "integer"
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            return "number"
        return "text"

    cols = [(f.name, kind(f.type)) for f in schema]
    def q(column: str) -> str:
        ident = exp.to_identifier(column, quoted=True)
        assert ident is not None
        return ident.sql(dialect)

    parts = ["COUNT(*) AS n"]
    for i, (c, _) in enumerate(cols):
        parts += [f"COUNT(DISTINCT {q(c)}) AS d{i}", f"COUNT({q(c)}) AS v{i}"]
    stats = wh.execute(f"SELECT {', '.join(parts)} FROM {tbl}").to_pylist()[0]
    rows = int(stats["n"])
    columns = [ColumnProfile(c, k, int(stats[f"d{i}"]), rows - int(stats[f"v{i}"])) for i, (c, k) in enumerate(cols)]
    grains: dict[str, Grain] = {}
    for c, k in cols:
        if k != "time":
            continue
        sample = wh.execute(f"SELECT {q(c)} AS t FROM {tbl} WHERE {q(c)} IS NOT NULL LIMIT 2000").column("t")
        values = sample.to_pylist()
        sub_daily = any(getattr(v, "hour", 0) or getattr(v, "minute", 0) for v in values)
        grains[c] = Grain.hour if sub_daily else Grain.day
    return TableProfile(table, rows, columns, grains)


def infer_yaml(profile: TableProfile, model: dict[str, Any]) -> str:
    """The inferred model as a commented ``models/<table>.yaml``."""
    import yaml

    from metricloop import schemas

    head = (
        f"# Inferred by `metricloop catalog infer {profile.table}` from {profile.rows:,} rows. Review it:\n"
        "# labels and business_definition (业务口径), unit/format, polarity (which way is bad news),\n"
        "# tier (north_star | primary | secondary | diagnostic: how loud its monitors are) and owners.\n"
    )
    body = yaml.safe_dump(model, allow_unicode=True, sort_keys=False, width=110)
    return schemas.modeline("models", 1) + head + body


# ---------------------------------------------------------------------------------- monitors suggest
def metric_facts(ml: MetricLoop, metric: Metric) -> MetricFacts | None:
    """What the warehouse says about ``metric``: its grain, history, hourly coverage and the
    volume of each categorical dimension's values over the last 4 weeks (None without data)."""
    from metricloop.catalog.catalog import available_dimensions, leaf_models
    from metricloop.catalog.models import Grain, MetricType
    from metricloop.detect.suggest import SEASONAL_DAYS, MetricFacts
    from metricloop.engine.query import MetricQuery

    catalog = ml.catalog
    grains = []
    categorical: set[str] = set()
    for model in leaf_models(catalog, metric):
        t = model.dimension(model.agg_time_dimension or "")
        grains.append(t.grain if t else Grain.day)
        categorical |= {d.name for d in model.dimensions if d.type == "categorical"}
    data_grain = min(grains, key=lambda g: g.order) if grains else Grain.day
    daily = [r for r in ml.query(MetricQuery(metrics=[metric.name], grain=Grain.day)).rows()
             if r.get(metric.name) is not None]
    if not daily:
        return None
    days = sorted(r["metric_time__day"] for r in daily)
    first, last = days[0], days[-1]
    history_days = (last - first).days + 1
    window_start = max(first, last - dt.timedelta(days=SEASONAL_DAYS - 1))
    coverage = 0.0
    if data_grain.order <= Grain.hour.order:
        hourly = ml.query(MetricQuery(metrics=[metric.name], grain=Grain.hour, start=window_start, end=last)).rows()
        hours = ((last - window_start).days + 1) * 24
        coverage = sum(1 for r in hourly if r.get(metric.name)) / max(hours, 1)
    volume = metric.name
    if metric.type is MetricType.ratio and metric.denominator is not None:
        volume = metric.denominator.name
    elif metric.type is not MetricType.simple or catalog.additivity(metric).value != "additive":
        volume = ""
    slices: dict[str, list[tuple[str, float]]] = {}
    dims = sorted(d for d in available_dimensions(catalog, metric) if d in categorical)
    for dim in dims if volume else []:
        rows = ml.query(MetricQuery(metrics=[volume], group_by=[dim], start=window_start, end=last)).rows()
        slices[dim] = [(str(r[dim]), float(r[volume] or 0)) for r in rows if r.get(dim) is not None]
    return MetricFacts(metric, data_grain, float(history_days), coverage, slices)


def suggest(ml: MetricLoop) -> list[Suggestion]:
    """Proposed monitors for the catalog's metrics that no monitor watches yet."""
    from metricloop.detect.suggest import suggest_monitors

    try:
        existing = [m.spec.metric for m in ml.detection.monitors()]
    except Exception:  # a broken monitor file must not stop a suggestion; validate reports it
        existing = []
    facts = []
    for m in ml.catalog.metrics.values():
        try:
            found = metric_facts(ml, m)
        except MetricLoopError as exc:  # a metric its warehouse cannot compute: no proposal, say why
            log.warning("monitors suggest: skipping %s: %s", m.name, exc)
            continue
        if found is not None:
            facts.append(found)
    return suggest_monitors(facts, timezone=ml.project.config.timezone, existing=existing)


def suggestions_yaml(suggestions: list[Suggestion]) -> str:
    """``monitors/suggested.yaml``: the proposed monitors, each with why it looks that way."""
    import yaml

    from metricloop import schemas

    out = [schemas.modeline("monitors", 1),
           "# Proposed by `metricloop monitors suggest` from the catalog (tier, polarity) and the data\n"
           "# (grain, history, the dimensions that carry the volume). Edit freely: it is yours now.\n",
           "monitors:\n"]
    for s in suggestions:
        block = yaml.safe_dump([s.monitor], allow_unicode=True, sort_keys=False, width=110)
        out.append(f"  # {s.why}\n" + "".join(f"  {line}\n" for line in block.splitlines()))
    return "".join(out)
