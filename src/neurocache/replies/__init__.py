"""What every reply of a model shares: the prompt within the context budget, streaming, and
OpenAI-style completions."""
