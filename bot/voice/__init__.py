"""Voice questions: limits and notes (``intake``), speech to text over an OpenAI-compatible API (``transcriber``)."""
