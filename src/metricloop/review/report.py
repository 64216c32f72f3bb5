"""The weekly loop-health report in Markdown and HTML (charts as inline SVG, no JavaScript), in
zh-CN or en. Pure: figures in, documents out; the service gathers the figures and can send the
report's summary through a channel.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metricloop.i18n import Text

T = {
    "title": Text(en="Metric loop weekly report {start} – {end}", zh="指标闭环周报 {start} – {end}"),
    "kpis": Text(en="Loop health", zh="闭环健康度"),
    "incidents": Text(en="Incidents", zh="事件数"),
    "open": Text(en="Still open", zh="未关闭"),
    "mttd": Text(en="MTTD (min)", zh="平均发现时长（分钟）"),
    "mtta": Text(en="MTTA (min)", zh="平均响应时长（分钟）"),
    "mttr": Text(en="MTTR (min)", zh="平均解决时长（分钟）"),
    "ack_sla": Text(en="Acked within SLA", zh="按时确认率"),
    "actions_on_time": Text(en="Actions on time", zh="行动项按时完成率"),
    "closure": Text(en="Closure rate", zh="关闭率"),
    "overdue": Text(en="Overdue", zh="逾期数"),
    "repeats": Text(en="Repeat incidents", zh="重复发生事件"),
    "per_day": Text(en="Incidents per day", zh="每日事件数"),
    "by_team": Text(en="By team", zh="按团队"),
    "by_metric": Text(en="By metric", zh="按指标"),
    "mttr_by_team": Text(en="MTTR by team (min)", zh="各团队平均解决时长（分钟）"),
    "list": Text(en="Incidents of the week", zh="本周事件"),
    "team": Text(en="Team", zh="团队"),
    "metric": Text(en="Metric", zh="指标"),
    "status": Text(en="Status", zh="状态"),
    "owner": Text(en="Owner", zh="负责人"),
    "severity": Text(en="Severity", zh="级别"),
    "none": Text(en="No incidents this week.", zh="本周没有事件。"),
}


@dataclass(frozen=True)
class WeeklyReport:
    title: str
    markdown: str
    html: str
    data: dict[str, Any]


def _fmt(v: Any, kind: str = "num") -> str:
    if v is None:
        return "—"
    if kind == "pct":
        return f"{float(v):.0%}"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def svg_bars(labels: Sequence[str], values: Sequence[float | None], title: str, *, width: int = 560,
             height: int = 220, color: str = "#3b82f6") -> str:
    """A small vertical bar chart as an inline SVG string (labels escaped)."""
    vals = [float(v or 0.0) for v in values]
    top = max(vals, default=0.0) or 1.0
    pad_l, pad_b, pad_t = 10, 40, 28
    n = max(len(vals), 1)
    bw = (width - 2 * pad_l) / n
    plot_h = height - pad_b - pad_t
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}" viewBox="0 0 {width} {height}">',
        f'<text x="{pad_l}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (lab, v, raw) in enumerate(zip(labels, vals, values, strict=True)):
        h = plot_h * v / top
        x = pad_l + i * bw + bw * 0.1
        y = pad_t + plot_h - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.8:.1f}" height="{h:.1f}" fill="{color}">'
                     f"<title>{html.escape(lab)}: {_fmt(raw)}</title></rect>")
        parts.append(f'<text x="{x + bw * 0.4:.1f}" y="{y - 3:.1f}" font-size="11" text-anchor="middle">'
                     f"{html.escape(_fmt(raw))}</text>")
        parts.append(f'<text x="{x + bw * 0.4:.1f}" y="{height - pad_b + 16}" font-size="11" '
                     f'text-anchor="middle">{html.escape(lab[:12])}</text>')
    parts.append(f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - pad_l}" y2="{pad_t + plot_h}" '
                 'stroke="#999"/></svg>')
    return "".join(parts)


KPI_ROWS = (("incidents", "incidents", "num"), ("open", "open", "num"), ("mttd", "mttd_min", "num"),
            ("mtta", "mtta_min", "num"), ("mttr", "mttr_min", "num"), ("ack_sla", "ack_within_sla", "pct"),
            ("actions_on_time", "actions_on_time", "pct"), ("closure", "closure_rate", "pct"),
            ("overdue", "overdue", "num"), ("repeats", "repeats", "num"))
GROUP_COLS = ("incidents", "mtta_min", "mttr_min", "ack_within_sla", "closure_rate", "overdue", "repeats")


def build_weekly(
    health: Mapping[str, Any],
    incidents: Sequence[Mapping[str, Any]],
    start: dt.date,
    end: dt.date,
    locale: str,
    *,
    team_names: Mapping[str, str] | None = None,
    metric_names: Mapping[str, str] | None = None,
) -> WeeklyReport:
    """Markdown + HTML of one week's loop health; ``incidents`` = that week's incidents."""
    r = {k: v.render(locale) for k, v in T.items()}
    title = T["title"].render(locale, start=start.isoformat(), end=end.isoformat())
    overall = health["overall"]
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    per_day = [sum(1 for i in incidents if _day(i["triggered_at"]) == d) for d in days]
    teams = health.get("by_team", {})
    tn, mn = team_names or {}, metric_names or {}

    md = [f"# {title}", "", f"## {r['kpis']}", "", "| | |", "|---|---:|"]
    md += [f"| {r[label]} | {_fmt(overall.get(key), kind)} |" for label, key, kind in KPI_ROWS]
    head = [r["team"], r["incidents"], r["mtta"], r["mttr"], r["ack_sla"], r["closure"], r["overdue"], r["repeats"]]

    def table(rows: Mapping[str, Any], names: Mapping[str, str], first: str) -> list[str]:
        out = ["| " + " | ".join([first, *head[1:]]) + " |", "|" + "---|" * len(head)]
        for k, f in rows.items():
            cells = [_fmt(f.get(c), "pct" if c in ("ack_within_sla", "closure_rate") else "num") for c in GROUP_COLS]
            out.append("| " + " | ".join([names.get(k, k), *cells]) + " |")
        return out

    md += ["", f"## {r['by_team']}", "", *table(teams, tn, r["team"])]
    md += ["", f"## {r['by_metric']}", "", *table(health.get("by_metric", {}), mn, r["metric"])]
    md += ["", f"## {r['list']}", ""]
    if incidents:
        md += [f"| ID | {r['metric']} | {r['severity']} | {r['status']} | {r['owner']} |", "|---|---|---|---|---|"]
        md += [f"| {i['id']} | {i['title']} | {i['severity']} | {i['status_label']} | {i.get('owner_name') or '—'} |"
               for i in incidents]
    else:
        md.append(r["none"])
    markdown = "\n".join(md) + "\n"

    chart_days = svg_bars([d.strftime("%m-%d") for d in days], per_day, r["per_day"])
    chart_mttr = svg_bars([tn.get(k, k) for k in teams], [f.get("mttr_min") for f in teams.values()],
                          r["mttr_by_team"], color="#f59e0b")

    def html_table(md_lines: list[str]) -> str:
        rows = [line.strip("|").split("|") for line in md_lines if not line.startswith("|---") and line.startswith("|")]
        if not rows:
            return ""
        th = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>" for row in rows[1:])
        return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"

    kpi_rows = "".join(f"<tr><th>{html.escape(r[label])}</th><td>{_fmt(overall.get(key), kind)}</td></tr>"
                       for label, key, kind in KPI_ROWS)
    inc_html = html_table(md[md.index(f"## {r['list']}") + 2:]) if incidents else f"<p>{html.escape(r['none'])}</p>"
    body = (
        f"<h1>{html.escape(title)}</h1><h2>{html.escape(r['kpis'])}</h2><table>{kpi_rows}</table>"
        f"<figure>{chart_days}</figure><figure>{chart_mttr}</figure>"
        f"<h2>{html.escape(r['by_team'])}</h2>{html_table(table(teams, tn, r['team']))}"
        f"<h2>{html.escape(r['by_metric'])}</h2>{html_table(table(health.get('by_metric', {}), mn, r['metric']))}"
        f"<h2>{html.escape(r['list'])}</h2>{inc_html}"
    )
    style = ("body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;max-width:960px;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px}"
             "td{text-align:right}")
    page = (f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>{body}</body></html>")
    data = {"start": start, "end": end, "health": dict(health), "per_day": dict(zip(map(str, days), per_day,
                                                                                    strict=True))}
    return WeeklyReport(title, markdown, page, data)


def _day(t: Any) -> dt.date | None:
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    return t.date() if isinstance(t, dt.datetime) else None
