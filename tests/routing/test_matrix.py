"""The R5.2 table and the codecs that serve its translated cells (SPEC R5.2, R9.1; issue 12
item 13). The end-to-end walk of every cell is `tests/e2e/test_matrix.py`."""

from __future__ import annotations

import pytest

from torouter.protocols.translate import FRONT, UPSTREAM
from torouter.routing import matrix
from torouter.storage.repos.channels import PLATFORMS

# Translated cells served by the chat codecs (the others have codecs of their own: token
# counting in protocols/count_tokens.py, embeddings in protocols/embeddings.py).
CHAT_CODEC_OPS = ("chat", "responses", "messages", "generate")
CELLS = [
    (op, platform)
    for op in CHAT_CODEC_OPS
    for platform, mode in matrix.MATRIX[op].items()
    if mode == matrix.TRANSLATED
]


@pytest.mark.parametrize(("op", "platform"), CELLS)
def test_every_translated_cell_has_both_codecs(op: str, platform: str) -> None:
    assert matrix.FRONT_PROTOCOL[op] in FRONT
    assert platform in UPSTREAM  # azure-openai was missing: Anthropic/Gemini/Responses failed


def test_every_platform_has_a_column() -> None:
    """A channel of any platform the API accepts is routable for chat and the translations."""
    for op in CHAT_CODEC_OPS:
        assert set(matrix.MATRIX[op]) == set(PLATFORMS), op


def test_azure_reads_like_openai() -> None:
    """Azure OpenAI speaks the OpenAI wire (R9.1): every cell of the openai column is served
    there too, through chat completions where openai itself is native on another API."""
    for op, row in matrix.MATRIX.items():
        if op in ("completions", "moderations"):  # R3.3: openai and openai-compatible only
            continue
        openai, azure = row.get("openai"), row.get("azure-openai")
        assert (openai is None) == (azure is None), op
        if op == "responses":
            assert azure == matrix.TRANSLATED  # Azure serves Responses off the deployment path
        else:
            assert azure == openai, op
