"""Notification channels (names, types, where they point — never a secret), a test send, the outbox.

Each channel of ``channels.yaml`` is checked on its own, so one channel whose environment
variable is unset (``metricloop serve`` of the demo folder outside ``metricloop demo``) is shown
as not configured, with the reason, while the others still work.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, reader_locale, require
from metricloop.api.errors import ERROR_RESPONSES, ErrorBody
from metricloop.api.pagination import Page, PageParams, page_of, page_params
from metricloop.api.schemas.channels import ChannelOut, OutboxItem, TestSendOut
from metricloop.service import MetricLoop
from metricloop.views.channels import channel_rows, test_send

router = APIRouter(prefix="/api/v1", tags=["channels"], responses=ERROR_RESPONSES)
ChannelName = Path(min_length=1, max_length=128, description="Channel name from channels.yaml.")


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(principal: Principal = Depends(require(Action.channel_test)),
                  ml: MetricLoop = Depends(get_ml)) -> list[ChannelOut]:
    """Channels with their state; URLs are shown without their credentials, secrets never."""
    return channel_rows(ml)


@router.post("/channels/{name}/test", response_model=TestSendOut,
             responses={502: {"model": ErrorBody, "description": "The channel could not be reached."}})
def send_test(request: Request, name: str = ChannelName, principal: Principal = Depends(require(Action.channel_test)),
              ml: MetricLoop = Depends(get_ml)) -> TestSendOut:
    """Send a test message now and report what the platform answered (422 when the channel is
    not configured, e.g. its environment variable is unset)."""
    return test_send(ml, name, principal.username, reader_locale(request, principal))


@router.get("/outbox", response_model=Page[OutboxItem])
def outbox(status: str | None = Query(None, max_length=16, description="pending | delivered | dead | covered"),
           page: PageParams = Depends(page_params), principal: Principal = Depends(require(Action.channel_test)),
           ml: MetricLoop = Depends(get_ml)) -> Page[OutboxItem]:
    """Notifications newest first: what is waiting, delivered or undeliverable."""
    rows = ml.workflow.outbox(status, limit=page.offset + page.limit + 1)[page.offset:]
    return page_of([OutboxItem(**r) for r in rows], page, None, fetched_extra=True)
