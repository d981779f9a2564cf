"""Every fenced block of the README, the quick start and the clients page is run by a snippet
test, or listed here with the reason it cannot be (issue 19 point 7): a new block without a
marker or a runner fails, and so does a runner whose block was removed."""

from __future__ import annotations

from tests.docs_site import test_cli_snippets, test_node_snippets, test_snippets
from tests.docs_site.snippets import PAGES, fenced_blocks, parse_blocks

# Blocks no test runs, each with its reason.
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "run-and-test"): (
        "scripts/run.sh starts the embedded default on port 8080 in the clone, which the "
        "snippet tests' gateway is (`torouter serve` on a fresh data folder); scripts/test.sh "
        "runs the suite these tests are part of"
    ),
    ("docs/index.md", "run"): "scripts/run.sh: as README.md#run-and-test",
}

RUN: set[tuple[str, str]] = {
    *test_snippets.RUNS,
    *test_node_snippets.RUNS,
    *test_cli_snippets.RUNS,
    *test_cli_snippets.READ_BY,
}


def test_every_block_has_a_marker_unique_on_its_page() -> None:
    blocks = [b for page in PAGES for b in fenced_blocks(page)]
    assert blocks
    unmarked = [f"{b.page}:{b.line}" for b in blocks if b.id is None]
    assert unmarked == [], "blocks without a `<!-- snippet: ID -->` line before their fence"
    keys = [b.key for b in blocks]
    assert sorted({k for k in keys if keys.count(k) > 1}) == []


def test_every_block_is_run_or_says_why_not() -> None:
    on_pages = {b.key for page in PAGES for b in fenced_blocks(page)}
    assert RUN.isdisjoint(NOT_RUN)
    assert sorted(on_pages - RUN - NOT_RUN.keys()) == [], "blocks no test runs"
    assert sorted((RUN | NOT_RUN.keys()) - on_pages) == [], "runners whose block is gone"


def test_the_fence_parser_reads_markers_languages_and_lines() -> None:
    """The parser itself: a marked block, an unmarked one with an info string, and a fence
    that is not at a line's start (inline code), which opens nothing."""
    text = (
        "# Page\n\n<!-- snippet: one -->\n```sh\necho 1\n```\n\nText `` ``` `` here.\n\n"
        "```python title=x\nprint(2)\n```\n"
    )
    found = parse_blocks("page.md", text)
    assert [(b.id, b.lang, b.code, b.line) for b in found] == [
        ("one", "sh", "echo 1\n", 4),
        (None, "python title=x", "print(2)\n", 10),
    ]
