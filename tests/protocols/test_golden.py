"""Recorded real provider responses through the translators, against golden files (SPEC R5.1).

Every chat-type recorded case is decoded (stream) or parsed (body) into the internal shape, then
encoded (stream) or rendered (body) for each front door R5.2 translates it to. Both the internal
form (`<from>_to_internal`) and the client bytes (`<from>_to_<front>`) are golden files. Streams
must decode to the same events however the upstream bytes are split, and encode to the same
bytes however the events are batched.
"""

from __future__ import annotations

import itertools
import random
import zlib
from typing import Any

import pytest

from tests.protocols.harness import (
    CASES,
    MODEL,
    MODULES,
    case_params,
    check_golden,
    decode_all,
    decode_chunks,
    dump_json,
    encoder,
    pair_params,
    parse,
    sse_bytes,
    to_jsonable,
    upstream,
)

# Split at every byte offset (a few cases, one of each upstream protocol and quirk).
EVERY_OFFSET = (
    "anthropic-messages-stream-thinking-2",
    "gemini-stream-tool-call-partial-args",
    "openai-chat-stream-tools",
    "openrouter-chat-stream-error",
)


def _flat(batches: list[list[Any]]) -> list[Any]:
    return [ev for batch in batches for ev in batch]


@pytest.mark.parametrize("case", case_params(stream=True))
def test_stream_decodes_to_golden_events(case: dict[str, Any]) -> None:
    events = decode_all(case)
    check_golden(f"{upstream(case)}_to_internal/{case['id']}.json", dump_json(to_jsonable(events)))


@pytest.mark.parametrize("case", case_params(stream=False))
def test_body_parses_to_golden_response(case: dict[str, Any]) -> None:
    resp = parse(case)
    check_golden(f"{upstream(case)}_to_internal/{case['id']}.json", dump_json(to_jsonable(resp)))


@pytest.mark.parametrize(("case", "front"), pair_params(stream=True))
def test_stream_translates_to_golden_bytes(case: dict[str, Any], front: str) -> None:
    events = decode_all(case)
    out = encoder(front).encode(events)
    check_golden(f"{upstream(case)}_to_{front}/{case['id']}.sse", out.decode())
    one_by_one = encoder(front)
    assert b"".join(one_by_one.encode([ev]) for ev in events) == out


@pytest.mark.parametrize(("case", "front"), pair_params(stream=False))
def test_body_translates_to_golden_body(case: dict[str, Any], front: str) -> None:
    body = MODULES[front].render_response(parse(case), model=MODEL)
    check_golden(f"{upstream(case)}_to_{front}/{case['id']}.json", dump_json(body))


@pytest.mark.parametrize("case", case_params(stream=True))
def test_stream_split_anywhere_gives_same_events(case: dict[str, Any]) -> None:
    data = sse_bytes(case)
    whole = decode_all(case)
    rng = random.Random(zlib.crc32(case["id"].encode()))
    assert _flat(decode_chunks(case, [data[i : i + 1] for i in range(len(data))])) == whole
    for _ in range(30):
        cuts = sorted(rng.sample(range(1, len(data)), k=rng.randint(1, 12)))
        bounds = [0, *cuts, len(data)]
        chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
        assert _flat(decode_chunks(case, chunks)) == whole, cuts


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["id"] in EVERY_OFFSET], ids=lambda c: c["id"]
)
def test_stream_split_at_every_offset(case: dict[str, Any]) -> None:
    data = sse_bytes(case)
    whole = decode_all(case)
    for k in range(len(data) + 1):
        assert _flat(decode_chunks(case, [data[:k], data[k:]])) == whole, k


def test_every_offset_cases_exist() -> None:
    if CASES:
        assert {c["id"] for c in CASES} >= set(EVERY_OFFSET)


def _request_params() -> list[Any]:
    out = []
    for p in case_params():
        case = p.values[0]
        if case is None:
            return [p]
        if not isinstance(case["request"]["body"], dict):
            continue
        for target in ("openai", "anthropic", "gemini"):
            if target != upstream(case):
                out.append(pytest.param(case, target, id=f"{case['id']}->{target}", marks=p.marks))
    return out


def _parse_client(case: dict[str, Any]) -> Any:
    body = case["request"]["body"]
    if upstream(case) == "gemini":
        model = case["request"]["path"].rsplit("/", 1)[-1].split(":")[0]
        return MODULES["gemini"].parse_request(body, model=model, rng=random.Random(0))
    return MODULES[upstream(case)].parse_request(body)


@pytest.mark.parametrize(("case", "target"), _request_params())
def test_recorded_request_translates_to_golden_body(case: dict[str, Any], target: str) -> None:
    """The recorded request bodies, as a client of that protocol would send them, translated
    for each other platform; the dropped fields are part of the golden output."""
    req = _parse_client(case)
    body = MODULES[target].render_request(req, upstream_model="upstream-model")
    out = {"body": body, "dropped": req.dropped}
    name = f"{upstream(case)}_to_{target}/{case['id']}.request.json"
    check_golden(name, dump_json(out))
