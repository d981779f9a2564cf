"""SPEC §20's table as data, the verdict of each row, and the rendering of a result as a table.

Pure functions over the result JSON, so a saved result can be shown again (``run.py --show``).
Throughput is judged on the gateway's own number (it runs on one pinned core, so it is "per
core"); latency on the difference between the gateway's and the mock's percentile at c=1; a
translated route on its rate over the same run's pass-through rate (SPEC: at least half).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.scenarios import PASS_THROUGH_OF

__all__ = ["Row", "litellm_rows", "render", "spec_rows", "translated_summary"]

# "Direct rate": the gateway's slow-stream rate within 3 % of the mock's. Rates here are
# connections / mean stream time (Little's law): the count of whole ~0.4 s streams finished in a
# fixed run is quantized per connection, which turns 2 % of latency into 4 % of rate.
SLOW_RATE_TOLERANCE = 0.97
# A translated route's rate over the pass-through one: SPEC minimum and goal.
TRANSLATED_MIN, TRANSLATED_GOAL = 0.5, 0.7
# The gateway's rate over the bare reference proxy's (`bench/floor.py`), same run: issue 20's goal.
FLOOR_GOAL = 0.6
_TRANSLATED_LABELS = {
    "translated_nonstream_c32": "translated non-stream req/s (c=32)",
    "translated_stream_c32": "translated 20-chunk streams/s (c=32)",
}


@dataclass(frozen=True, slots=True)
class Row:
    metric: str
    direct: str
    gateway: str
    compare: str  # gateway/direct, or the latency the gateway adds
    minimum: str
    goal: str
    verdict: str  # "PASS goal", "PASS min", "FAIL", "info", "n/a"

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.__slots__}


def _verdict(meets_min: bool | None, meets_goal: bool | None) -> str:
    if meets_min is None:
        return "info"
    if not meets_min:
        return "FAIL"
    return "PASS goal" if meets_goal else "PASS min"


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _side(scenarios: Mapping[str, Any], key: str, target: str) -> Mapping[str, Any] | None:
    entry = scenarios.get(key)
    return entry.get(target) if entry else None


def _throughput_row(
    scenarios: Mapping[str, Any], key: str, label: str, minimum: float, goal: float
) -> Row | None:
    d, g = _side(scenarios, key, "direct"), _side(scenarios, key, "gateway")
    if g is None:
        return None
    dr, gr = (d or {}).get("rate"), g["rate"]
    ratio = _ratio(gr, dr)
    return Row(
        label,
        _n(dr),
        _n(gr),
        f"{ratio:.2f}x" if ratio is not None else "-",
        f">= {minimum:,.0f}",
        f">= {goal:,.0f}",
        _verdict(gr >= minimum, gr >= goal),
    )


def translated_summary(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each measured translated route against its pass-through scenario (the result's JSON).

    The verdict is "FAIL" when the translated run had errors, whatever its rate; "info" when the
    pass-through scenario did not run (``--only``), so there is nothing to compare with.
    """
    scenarios = result.get("scenarios", {})
    out = {}
    for key, base in PASS_THROUGH_OF.items():
        t, p = _side(scenarios, key, "gateway"), _side(scenarios, base, "gateway")
        if t is None:
            continue
        ratio = _ratio(t["rate"], (p or {}).get("rate"))
        clean = t["error_count"] == 0
        meets = None if ratio is None else clean and ratio >= TRANSLATED_MIN
        out[key] = {
            "rate": t["rate"],
            "pass_through": base,
            "pass_through_rate": (p or {}).get("rate"),
            "ratio": round(ratio, 3) if ratio is not None else None,
            "minimum_ratio": TRANSLATED_MIN,
            "goal_ratio": TRANSLATED_GOAL,
            "error_count": t["error_count"],
            "verdict": _verdict(meets, meets and ratio is not None and ratio >= TRANSLATED_GOAL),
        }
    return out


def _floor_rows(scenarios: Mapping[str, Any]) -> list[Row]:
    """The gateway against the floor, measured side by side: a ratio that means the same on any
    machine (the absolute rates above depend on the machine's speed)."""
    rows = []
    for key, label in (("nonstream_c32", "non-stream"), ("stream_c32", "streams")):
        g, f = _side(scenarios, key, "gateway"), _side(scenarios, key, "floor")
        if g is None or f is None:
            continue
        ratio = _ratio(g["rate"], f["rate"])
        rows.append(
            Row(
                f"{label} vs the floor (bench/floor.py)",
                _n(f["rate"]),
                _n(g["rate"]),
                f"{ratio:.2f}x of floor" if ratio is not None else "-",
                "-",
                f">= {FLOOR_GOAL:.2f}x",
                "info" if ratio is None or ratio < FLOOR_GOAL else "PASS goal",
            )
        )
    return rows


def _translated_rows(result: Mapping[str, Any]) -> list[Row]:
    rows = []
    for key, info in translated_summary(result).items():
        ratio = info["ratio"]
        compare = f"{ratio:.2f}x of {_n(info['pass_through_rate'])}" if ratio is not None else "-"
        rows.append(
            Row(
                _TRANSLATED_LABELS[key],
                "-",
                _n(info["rate"]),
                compare,
                f">= {TRANSLATED_MIN}x",
                f">= {TRANSLATED_GOAL}x",
                info["verdict"],
            )
        )
    return rows


def _lat_ms(side: Mapping[str, Any], pct: str, *, exact: bool = True) -> float:
    """A latency percentile in ms: the exact serial client's if it ran, else wrk's."""
    source = side.get("serial") if exact else None
    return float((source or side)["latency_us"][pct]) / 1000


def _latency_rows(scenarios: Mapping[str, Any]) -> list[Row]:
    d, g = _side(scenarios, "latency_c1", "direct"), _side(scenarios, "latency_c1", "gateway")
    if d is None or g is None:
        return []
    rows = []
    for pct, minimum, goal in (("p50", 0.7, 0.5), ("p99", 1.5, 1.0)):
        dm, gm = _lat_ms(d, pct), _lat_ms(g, pct)
        added = gm - dm
        rows.append(
            Row(
                f"added latency {pct}, ms (c=1)",
                _n(dm, 3),
                _n(gm, 3),
                f"+{added:.3f} ms",
                f"<= {minimum} ms",
                f"<= {goal} ms",
                _verdict(added <= minimum, added <= goal),
            )
        )
    if "serial" in d and "serial" in g:  # wrk's view of the same, for comparison
        for pct in ("p50", "p99"):
            dm, gm = _lat_ms(d, pct, exact=False), _lat_ms(g, pct, exact=False)
            rows.append(
                Row(
                    f"  wrk {pct} (CO-corrected), ms",
                    _n(dm, 3),
                    _n(gm, 3),
                    f"+{gm - dm:.3f} ms",
                    "-",
                    "-",
                    "info",
                )
            )
    return rows


def _slow_rows(scenarios: Mapping[str, Any]) -> list[Row]:
    key = "slow_streams_c128"
    d, g = _side(scenarios, key, "direct"), _side(scenarios, key, "gateway")
    if d is None or g is None:
        return []
    dr, gr = d.get("little_rate", d["rate"]), g.get("little_rate", g["rate"])
    ratio = _ratio(gr, dr) or 0.0
    same = ratio >= SLOW_RATE_TOLERANCE
    errors_ok = g["error_count"] == 0
    dp99, gp99 = d["latency_us"]["p99"] / 1000, g["latency_us"]["p99"] / 1000
    return [
        Row(
            "slow streams/s (128 x 20 ms)",
            _n(dr, 1),
            _n(gr, 1),
            f"{ratio:.3f}x",
            "= direct",
            "= direct",
            _verdict(same, same),
        ),
        Row(
            "slow stream errors",
            str(d["error_count"]),
            str(g["error_count"]),
            "",
            "0",
            "0",
            _verdict(errors_ok, errors_ok),
        ),
        Row(
            "slow stream p99, ms (added)",
            _n(dp99, 1),
            _n(gp99, 1),
            f"+{gp99 - dp99:.1f} ms",
            "-",
            "<= 50 ms",
            _verdict(True, gp99 - dp99 <= 50),
        ),
    ]


def _cpu_rows(scenarios: Mapping[str, Any]) -> list[Row]:
    rows = []
    for key, label in (
        ("nonstream_c32", "non-stream"),
        ("stream_c32", "stream"),
        ("translated_nonstream_c32", "translated non-stream"),
        ("translated_stream_c32", "translated stream"),
    ):
        g = _side(scenarios, key, "gateway")
        d = _side(scenarios, key, "direct")
        if not g or g.get("cpu_ms_per_request") is None:
            continue
        ms = g["cpu_ms_per_request"]
        rows.append(
            Row(
                f"CPU ms per {label} request",
                _n((d or {}).get("cpu_ms_per_request"), 4),
                _n(ms, 4),
                f"{1000 / ms:,.0f}/core-s" if ms else "-",
                "-",
                "-",
                "info",
            )
        )
    return rows


def spec_rows(result: Mapping[str, Any]) -> list[Row]:
    """One row per line of SPEC §20's table that this run measured."""
    scenarios = result.get("scenarios", {})
    rows: list[Row | None] = [
        _throughput_row(scenarios, "nonstream_c32", "non-stream req/s (c=32)", 3000, 4700),
        _throughput_row(scenarios, "stream_c32", "20-chunk streams/s (c=32)", 2000, 3400),
    ]
    rows += _floor_rows(scenarios)
    rows += _translated_rows(result)
    rows += _latency_rows(scenarios)
    rows += _slow_rows(scenarios)
    rows += _cpu_rows(scenarios)
    peak = result.get("gateway", {}).get("peak_rss_mb")
    if peak is not None:
        rows.append(
            Row(
                "peak RSS per worker, MB",
                "-",
                _n(peak, 1),
                "",
                "<= 150",
                "<= 100",
                _verdict(peak <= 150, peak <= 100),
            )
        )
    errors = result.get("errors", {})
    rows.append(
        Row(
            "errors (all measured runs)",
            str(errors.get("direct", 0)),
            str(errors.get("gateway", 0)),
            "",
            "0",
            "0",
            _verdict(errors.get("gateway", 0) == 0, errors.get("gateway", 0) == 0),
        )
    )
    rows.append(Row("versus LiteLLM", "-", "-", "", "reported", ">= 40x / 80x", "n/a"))
    return [r for r in rows if r is not None]


def litellm_rows(result: Mapping[str, Any]) -> list[Row]:
    """ToRouter against LiteLLM (columns reused: direct = LiteLLM, gateway = ToRouter)."""
    scenarios = result.get("scenarios", {})
    rows = []
    for key, label, goal in (
        ("nonstream_c32", "non-stream req/s (c=32)", 40.0),
        ("stream_c32", "20-chunk streams/s (c=32)", 80.0),
    ):
        lt, gw = _side(scenarios, key, "litellm"), _side(scenarios, key, "gateway")
        if not lt or not gw:
            continue
        ratio = _ratio(gw["rate"], lt["rate"])
        rows.append(
            Row(
                label,
                _n(lt["rate"], 1),
                _n(gw["rate"]),
                f"{ratio:.1f}x" if ratio is not None else "-",
                "reported",
                f">= {goal:.0f}x",
                _verdict(True, ratio is not None and ratio >= goal),
            )
        )
    lt, gw = _side(scenarios, "latency_c1", "litellm"), _side(scenarios, "latency_c1", "gateway")
    d = _side(scenarios, "latency_c1", "direct")
    if lt and gw:
        for pct in ("p50", "p99"):
            base = _lat_ms(d, pct) if d else 0.0
            lm, gm = _lat_ms(lt, pct) - base, _lat_ms(gw, pct) - base
            ratio = _ratio(lm, gm)
            rows.append(
                Row(
                    f"added latency {pct}, ms (c=1)",
                    _n(lm, 3),
                    _n(gm, 3),
                    f"{ratio:.1f}x less" if ratio is not None else "-",
                    "reported",
                    "-",
                    "info",
                )
            )
    for key in ("nonstream_c32", "stream_c32"):
        lt, gw = _side(scenarios, key, "litellm"), _side(scenarios, key, "gateway")
        if lt and gw and lt.get("cpu_ms_per_request") and gw.get("cpu_ms_per_request"):
            ratio = lt["cpu_ms_per_request"] / gw["cpu_ms_per_request"]
            rows.append(
                Row(
                    f"CPU ms per request ({key})",
                    _n(lt["cpu_ms_per_request"], 3),
                    _n(gw["cpu_ms_per_request"], 4),
                    f"{ratio:.1f}x less",
                    "reported",
                    "-",
                    "info",
                )
            )
    peaks = result.get("peak_rss_mb", {})
    if peaks.get("litellm") and peaks.get("gateway"):
        rows.append(
            Row(
                "peak RSS per worker, MB",
                _n(peaks["litellm"], 1),
                _n(peaks["gateway"], 1),
                f"{peaks['litellm'] / peaks['gateway']:.1f}x less",
                "reported",
                "-",
                "info",
            )
        )
    return rows


HEADER = ("metric", "direct", "gateway", "gw vs direct", "SPEC minimum", "goal", "result")


def render(rows: Sequence[Row], *, markdown: bool = False, header: Iterable[str] = HEADER) -> str:
    cells = [list(header)] + [list(r.as_dict().values()) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(c) + " |" for c in cells]
        lines.insert(1, "|" + "|".join("---" for _ in cells[0]) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    out = []
    for n, row in enumerate(cells):
        left = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  ".join([left, *rest]))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
