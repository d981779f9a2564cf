"""The stream codecs alone, per stream: one recorded-shape upstream stream fed through a relayer
the way the relay feeds it, without HTTP. An A/B measure of the per-event work (decode, shape
check, bookkeeping, encode) that machine load does not move when run under callgrind.

    .venv/bin/python bench/stream_codecs.py [ROUTE] [--streams N] [--reads K]
        [--profile | --instructions] [--src DIR]

ROUTE: `tr_anthropic` (OpenAI channel → Anthropic client, the benchmark's translated stream),
`tr_openai` (Anthropic channel → OpenAI client), `tr_gemini` (OpenAI channel → Gemini client),
`pass_openai` (the pass-through relay). The upstream stream is the mock's 24-event chat answer
(the benchmark's), or the Anthropic stream the same text makes; it arrives in `--reads` reads
(default 1: the mock writes it at once). Prints CPU µs per stream (load-sensitive); with
`--profile` Python calls per stream (cProfile, deterministic); with `--instructions`
instructions per stream (itself under callgrind for 200 and 1,200 streams, the difference over
1,000: start-up removed; needs valgrind). `--src DIR` runs the `torouter` package in DIR (e.g.
`git archive REV torouter | tar -x -C DIR`) for a before/after pair.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import subprocess
import sys
import time

import orjson

from torouter.gateway.passthrough import OpenAIPassthrough, StreamRelayer
from torouter.gateway.translated import Translation

_TEXT = ["This is", " a mock", " response to:", *[" hello"] * 17]


def openai_stream() -> bytes:
    """The mock's chat completion stream for the benchmark's request (its exact fields)."""
    head = {
        "id": "chatcmpl-5916f91a010000000000000000002",
        "object": "chat.completion.chunk",
        "created": 1796668260,
        "model": "bench-gpt",
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }
    events = []

    def chunk(delta: dict[str, object], finish: str | None, usage: object = None) -> None:
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        body = {**head, "choices": choices, "usage": usage, "obfuscation": "abcdefghijk"}
        events.append(b"data: " + orjson.dumps(body) + b"\n\n")

    chunk({"role": "assistant", "content": "", "refusal": None}, None)
    for text in _TEXT:
        chunk({"content": text}, None)
    chunk({}, "stop")
    usage = {"prompt_tokens": 31, "completion_tokens": 20, "total_tokens": 51}
    events.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


def anthropic_stream() -> bytes:
    def ev(name: str, body: dict[str, object]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"

    usage = {"input_tokens": 31, "output_tokens": 1}
    msg = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "bench-claude",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    out = [ev("message_start", {"type": "message_start", "message": msg})]
    out.append(
        ev(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
    )
    out.append(ev("ping", {"type": "ping"}))
    for text in _TEXT:
        delta = {"type": "text_delta", "text": text}
        out.append(
            ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        )
    )
    out.append(ev("message_stop", {"type": "message_stop"}))
    return b"".join(out)


_ROUTES = {  # route → (front, platform); the upstream stream is the platform's
    "pass_openai": ("openai", "openai"),
    "tr_anthropic": ("anthropic", "openai"),
    "tr_openai": ("openai", "anthropic"),
    "tr_gemini": ("gemini", "openai"),
}


def upstream_stream(route: str) -> bytes:
    return anthropic_stream() if _ROUTES[route][1] == "anthropic" else openai_stream()


def relayer(route: str) -> StreamRelayer:
    if route == "pass_openai":
        return OpenAIPassthrough(1 << 24, keep_usage=False)
    front, platform = _ROUTES[route]
    tr = Translation(
        front=front,  # type: ignore[arg-type]
        platform=platform,
        client_model="bench-gpt",
        body=b"",
        dropped=[],
        include_usage=False,
        input_estimate=31,
    )
    return tr.stream_relayer(1 << 24)


def run(route: str, streams: int, reads: int) -> int:
    """`streams` streams relayed; returns the bytes sent to the client (a check value)."""
    data = upstream_stream(route)
    step = -(-len(data) // reads)
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    sent = 0
    for _ in range(streams):
        rel = relayer(route)
        for piece in pieces:
            sent += len(rel.feed(piece))
        sent += len(rel.close())
        assert rel.done, route
    return sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("route", nargs="?", default="tr_anthropic")
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--reads", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--instructions", action="store_true")
    ap.add_argument("--src", help="a folder holding the torouter package to measure")
    args = ap.parse_args()
    if args.src and os.environ.get("STREAM_CODECS_SRC") != args.src:
        # Re-run with that package first on the path (the work tree's is an editable install).
        env = {**os.environ, "PYTHONPATH": args.src, "STREAM_CODECS_SRC": args.src}
        sys.exit(subprocess.run([sys.executable, *sys.argv], env=env, cwd=args.src).returncode)
    if args.instructions:
        counts = [_callgrind(args.route, n, args.reads) for n in (200, 1200)]
        per = (counts[1] - counts[0]) / 1000
        print(f"{args.route}: {per:,.0f} instructions per stream (reads {args.reads})")
        return
    if args.profile:
        run(args.route, 50, args.reads)
        prof = cProfile.Profile()
        prof.enable()
        run(args.route, args.streams, args.reads)
        prof.disable()
        stats = pstats.Stats(prof)
        calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
        print(f"{args.route}: {calls / args.streams:.1f} Python calls per stream")
        stats.sort_stats("tottime").print_stats(15)
        return
    run(args.route, 50, args.reads)
    t0 = time.process_time()
    run(args.route, args.streams, args.reads)
    cpu = time.process_time() - t0
    print(f"{args.route}: {cpu / args.streams * 1e6:.1f} CPU µs per stream ({args.streams})")


def _callgrind(route: str, streams: int, reads: int) -> int:
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        route,
        "--streams",
        str(streams),
        "--reads",
        str(reads),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    found = re.search(r"Collected : (\d+)", out)
    assert found, out[-2000:]
    return int(found.group(1))


if __name__ == "__main__":
    main()
