"""ToRouter: a self-hostable LLM API gateway and billing console."""

__version__ = "0.1.0"
