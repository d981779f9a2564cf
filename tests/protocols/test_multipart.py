"""Incremental multipart/form-data scanning (SPEC R3.1, R3.3): fields, spans, sizes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torouter.protocols.multipart import (
    MAX_FIELD_BYTES,
    MultipartError,
    MultipartScanner,
    boundary_of,
)

BOUNDARY = b"----formdata-0123456789"


def body(*parts: tuple[str, str | None, bytes], preamble: bytes = b"") -> bytes:
    out = preamble
    for name, filename, value in parts:
        disp = f'form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out += b"--" + BOUNDARY + b"\r\n"
        out += f"Content-Disposition: {disp}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


SAMPLE = body(
    ("prompt", None, "a hat, ünïcode".encode()),
    ("image", "cat.png", b"\x89PNG\r\n\r\n--not-a-boundary\r\n" * 50),
    ("model", None, b"img-gpt"),
    ("n", None, b"2"),
    preamble=b"ignored preamble\r\n",
)


def scan(chunks: list[bytes]) -> MultipartScanner:
    s = MultipartScanner(BOUNDARY)
    for c in chunks:
        s.feed(c)
    s.close()
    return s


def summary(s: MultipartScanner) -> list[tuple[str, str | None, int, int, bytes]]:
    return [(p.name, p.filename, p.start, p.end, bytes(p.value)) for p in s.parts]


def test_fields_spans_and_sizes() -> None:
    s = scan([SAMPLE])
    assert s.fields() == {"prompt": "a hat, ünïcode", "model": "img-gpt", "n": "2"}
    model = s.field("model")
    assert model is not None and SAMPLE[model.start : model.end] == b"img-gpt"
    image = s.parts[1]
    assert image.filename == "cat.png" and image.value == b""  # file bytes are not kept
    assert image.size == len(b"\x89PNG\r\n\r\n--not-a-boundary\r\n" * 50)


def test_split_at_every_offset() -> None:
    whole = summary(scan([SAMPLE]))
    for k in range(len(SAMPLE) + 1):
        assert summary(scan([SAMPLE[:k], SAMPLE[k:]])) == whole, k
    assert summary(scan([SAMPLE[i : i + 1] for i in range(len(SAMPLE))])) == whole


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(SAMPLE) - 1), max_size=12))
def test_split_anywhere(cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), len(SAMPLE)]
    chunks = [SAMPLE[a:b] for a, b in itertools.pairwise(bounds)]
    assert summary(scan(chunks)) == summary(scan([SAMPLE]))


def test_fields_are_capped() -> None:
    s = scan([body(("prompt", None, b"x" * (MAX_FIELD_BYTES + 10)), ("model", None, b"m"))])
    assert len(s.parts[0].value) == MAX_FIELD_BYTES and s.parts[0].size == MAX_FIELD_BYTES + 10
    assert s.fields()["model"] == "m"


@pytest.mark.parametrize(
    "data",
    [
        SAMPLE[:-20],  # no closing boundary
        b"--" + BOUNDARY + b"XX",  # not CRLF after the boundary
        b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + BOUNDARY + b"--",
        b"--" + BOUNDARY + b"\r\n" + b"X-Long: " + b"a" * 20_000,
    ],
    ids=["truncated", "bad-delimiter", "no-disposition", "huge-headers"],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(MultipartError):
        scan([data])


@pytest.mark.parametrize(
    ("header", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('Multipart/Form-Data; charset=utf-8; boundary="x y"', b"x y"),
        ("multipart/form-data", None),
        ("application/json", None),
        ("multipart/mixed; boundary=abc", None),
    ],
)
def test_boundary_of(header: str, boundary: bytes | None) -> None:
    assert boundary_of(header) == boundary
