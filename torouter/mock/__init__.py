"""ToRouter."""
