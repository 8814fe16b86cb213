"""The offline engine: answers from the manuals without an LLM, quoting the page it cites."""
