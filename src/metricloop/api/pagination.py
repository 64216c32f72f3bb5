"""One pagination shape for every listing: ``?limit=&offset=`` in, :class:`Page` out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")
U = TypeVar("U")
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """A slice of a listing; ask again with ``offset=next_offset`` for more."""

    items: list[T]
    total: int | None = Field(description="Number of items in the whole listing (null when not counted).")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page, or null on the last page.")


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(limit: int = Query(50, ge=1, le=MAX_LIMIT, description="Items per page."),
                offset: int = Query(0, ge=0, le=10_000_000, description="Items to skip.")) -> PageParams:
    return PageParams(limit, offset)


def paginate(items: Sequence[T], params: PageParams, convert: Callable[[T], U]) -> Page[U]:
    """Page an in-memory listing (the catalog is small and already in memory)."""
    chunk = items[params.offset: params.offset + params.limit]
    end = params.offset + len(chunk)
    return Page[U](items=[convert(i) for i in chunk], total=len(items), limit=params.limit, offset=params.offset,
                   next_offset=end if end < len(items) else None)


def page_of(items: list[U], params: PageParams, total: int | None, fetched_extra: bool = False) -> Page[U]:
    """Build a page from rows fetched with ``limit`` (+1 when ``fetched_extra``, to know if more follow)."""
    more = len(items) > params.limit if fetched_extra else (total is not None and params.offset + len(items) < total)
    items = items[: params.limit]
    return Page[U](items=items, total=total, limit=params.limit, offset=params.offset,
                   next_offset=params.offset + len(items) if more else None)
