"""The loops' queries return aggregates sized by slices x periods, whatever the facts (DuckDB, chdb)."""

from __future__ import annotations

import pytest

from metricloop.bench import pushdown


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_rows_out_do_not_grow_with_facts(engine: str) -> None:
    if engine == "clickhouse":
        pytest.importorskip("chdb", reason="chdb is not installed")
    rows = pushdown.run([engine], facts=(2_000, 20_000), slices=4, days=7)
    by = {(r.query, r.facts): r.rows_out for r in rows}
    for name, _, bound in pushdown.queries(4, 7):
        assert by[(name, 2_000)] == by[(name, 20_000)] <= bound, name
    assert by[("explain", 20_000)] == 4 and by[("detect", 20_000)] == 4 * 7
    # explain's drill-down of distinct buyers: one GROUPING SETS statement, values of each dimension + total
    sets = {r.facts: r.rows_out for r in rows if r.query == "explain_sets (GROUPING SETS)"}
    each = {r.facts: r.rows_out for r in rows if r.query.startswith("explain_sets (one GROUP BY each")}
    assert sets == each == {2_000: 4 + pushdown.CHANNELS + 1, 20_000: 4 + pushdown.CHANNELS + 1}
