"""Log timestamps and metric children (SPEC R17.2, R17.3)."""

from __future__ import annotations

import datetime as dt
import re

from torouter.observability import logging as tlog
from torouter.observability.metrics import Metrics


def test_timestamp_is_utc_milliseconds_and_current() -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)
    text = tlog.now_text()
    after = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert before <= dt.datetime.fromisoformat(text) <= after


def test_remembered_children_count_into_the_registry() -> None:
    m = Metrics()
    first = m.requests.labels("openai", "chat", "200", "")
    assert m.requests.labels("openai", "chat", "200", "") is first
    first.inc()
    m.requests.labels("openai", "chat", "200", "").inc(2)
    m.requests.labels("anthropic", "messages", "429", "rate_limit_error").inc()
    text = m.render().decode()
    assert (
        'torouter_requests_total{code="",front_door="openai",operation="chat",status="200"} 3.0'
        in text
    )
    assert 'front_door="anthropic",operation="messages",status="429"' in text
