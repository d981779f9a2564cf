"""Ready-to-paste client settings for one key (R15.4, R21.1): a pure function of the
deployment's base URL, the key (or a placeholder) and the models to name.

Every snippet reads the key from `TOROUTER_KEY`, so the key itself appears once, in the
`export` line; the base URLs are those of SPEC R21.1 (OpenAI `…/v1`; Anthropic and Gemini the
host root).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ModelChoice", "Snippet", "pick_models", "snippets"]


@dataclass(frozen=True, slots=True)
class Snippet:
    id: str  # curl, openai, anthropic, gemini, claude-code, codex, gemini-cli
    title: str  # a catalog key
    lang: str  # shell, python, toml…: the code block's kind
    code: str


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The model each snippet names: one per vendor when the catalog has one."""

    openai: str
    anthropic: str
    gemini: str


def pick_models(catalog: Sequence[tuple[str, str]]) -> ModelChoice:
    """From (model id, vendor) pairs of chat models in catalog order: the first model of each
    vendor, else the first model (bare ids work on every surface, R6.3)."""
    first = catalog[0][0] if catalog else "gpt-5"

    def of(vendor: str) -> str:
        return next((m for m, v in catalog if v == vendor), first)

    return ModelChoice(openai=of("openai"), anthropic=of("anthropic"), gemini=of("google"))


def snippets(base_url: str, key: str, models: ModelChoice) -> list[Snippet]:
    base = base_url.rstrip("/")
    export = f"export TOROUTER_KEY={key}"
    chat_body = json.dumps(
        {"model": models.openai, "messages": [{"role": "user", "content": "Hello!"}]}
    )
    return [
        Snippet(
            "curl",
            "snippets.curl",
            "shell",
            f"{export}\n"
            f"curl {base}/v1/chat/completions \\\n"
            '  -H "Authorization: Bearer $TOROUTER_KEY" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{chat_body}'",
        ),
        Snippet(
            "openai",
            "snippets.openai",
            "python",
            f"# pip install openai   ({export})\n"
            "import os\nfrom openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{base}/v1", api_key=os.environ["TOROUTER_KEY"])\n'
            "reply = client.chat.completions.create(\n"
            f'    model="{models.openai}",\n'
            '    messages=[{"role": "user", "content": "Hello!"}],\n'
            ")\nprint(reply.choices[0].message.content)",
        ),
        Snippet(
            "anthropic",
            "snippets.anthropic",
            "python",
            f"# pip install anthropic   ({export})\n"
            "import os\nfrom anthropic import Anthropic\n\n"
            f'client = Anthropic(base_url="{base}", api_key=os.environ["TOROUTER_KEY"])\n'
            "reply = client.messages.create(\n"
            f'    model="{models.anthropic}",\n'
            "    max_tokens=1024,\n"
            '    messages=[{"role": "user", "content": "Hello!"}],\n'
            ")\nprint(reply.content[0].text)",
        ),
        Snippet(
            "gemini",
            "snippets.gemini",
            "python",
            f"# pip install google-genai   ({export})\n"
            "import os\nfrom google import genai\n\n"
            "client = genai.Client(\n"
            '    api_key=os.environ["TOROUTER_KEY"],\n'
            f'    http_options={{"base_url": "{base}"}},\n'
            ")\n"
            f'reply = client.models.generate_content(model="{models.gemini}", contents="Hello!")\n'
            "print(reply.text)",
        ),
        Snippet(
            "claude-code",
            "snippets.claude_code",
            "shell",
            f"{export}\n"
            f"export ANTHROPIC_BASE_URL={base}\n"
            "export ANTHROPIC_AUTH_TOKEN=$TOROUTER_KEY\n"
            f"claude --model {models.anthropic}",
        ),
        Snippet(
            "codex",
            "snippets.codex",
            "toml",
            f"# ~/.codex/config.toml   (then: {export})\n"
            'model_provider = "torouter"\n'
            f'model = "{models.openai}"\n\n'
            "[model_providers.torouter]\n"
            'name = "ToRouter"\n'
            f'base_url = "{base}/v1"\n'
            'env_key = "TOROUTER_KEY"\n'
            'wire_api = "responses"',
        ),
        Snippet(
            "gemini-cli",
            "snippets.gemini_cli",
            "shell",
            f"{export}\n"
            "export GEMINI_API_KEY=$TOROUTER_KEY\n"
            f"export GOOGLE_GEMINI_BASE_URL={base}\n"
            "export GEMINI_CLI_TRUST_WORKSPACE=true\n"
            "mkdir -p ~/.gemini && cat > ~/.gemini/settings.json <<'JSON'\n"
            '{"security": {"auth": {"selectedType": "gemini-api-key"}}}\n'
            "JSON\n"
            f"gemini --model {models.gemini}",
        ),
    ]
