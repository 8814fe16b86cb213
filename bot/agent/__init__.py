"""The LLM agent: an OpenAI-compatible client, its prompts, its tools and the loop that uses them."""
