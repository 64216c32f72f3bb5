"""The parsed catalog is cached by content: an edit is always seen, a broken cache never trusted."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from metricloop.catalog.cache import content_key, load_cached_catalog
from metricloop.catalog.models import I18nText
from metricloop.errors import DefinitionError

MODELS = """\
semantic_models:
  - name: orders
    table: orders
    defaults: {agg_time_dimension: t}
    dimensions:
      - {name: t, type: time}
      - {name: region, type: categorical}
    measures:
      - {name: amount, agg: sum}
metrics:
  - {name: gmv, measure: amount, label: GMV}
"""


def write(root: Path, text: str, name: str = "m.yaml") -> None:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / name).write_text(textwrap.dedent(text), encoding="utf-8")


def test_second_load_comes_from_the_cache_with_the_same_definitions(tmp_path: Path) -> None:
    write(tmp_path, MODELS)
    cache = tmp_path / ".metricloop" / "cache"
    first = load_cached_catalog(tmp_path, cache)
    assert len(list(cache.glob("catalog-*.pickle"))) == 1
    second = load_cached_catalog(tmp_path, cache)
    assert second is not first  # read back from disk
    assert second.metric("gmv") == first.metric("gmv")
    assert str(second.origins["metric:gmv"].location("label")) == str(first.origins["metric:gmv"].location("label"))


def test_a_changed_model_file_is_parsed_again(tmp_path: Path) -> None:
    write(tmp_path, MODELS)
    cache = tmp_path / "cache"
    assert load_cached_catalog(tmp_path, cache).metric("gmv").label == I18nText(en="GMV")
    before = content_key(tmp_path)
    write(tmp_path, MODELS.replace("label: GMV", "label: Gross sales"))
    assert content_key(tmp_path) != before
    assert load_cached_catalog(tmp_path, cache).metric("gmv").label == I18nText(en="Gross sales")
    # an added file counts too, and a broken one is reported, never hidden by the cache
    write(tmp_path, "metrics:\n  - {name: orders_n, measure: nope}\n", name="extra.yaml")
    with pytest.raises(DefinitionError, match="nope"):
        load_cached_catalog(tmp_path, cache)


def test_a_corrupt_cache_file_is_ignored_and_rewritten(tmp_path: Path) -> None:
    write(tmp_path, MODELS)
    cache = tmp_path / "cache"
    load_cached_catalog(tmp_path, cache)
    (entry,) = cache.glob("catalog-*.pickle")
    entry.write_bytes(b"\x80\x05not a pickle at all")
    assert load_cached_catalog(tmp_path, cache).metric("gmv").label == I18nText(en="GMV")
    assert entry.read_bytes() != b"\x80\x05not a pickle at all"
    # a well-formed pickle of something else is not trusted either
    import pickle

    entry.write_bytes(pickle.dumps(("wrong key", None)))
    assert load_cached_catalog(tmp_path, cache).metric("gmv").label == I18nText(en="GMV")
