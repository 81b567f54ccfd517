"""Models: the catalog, downloads, supervised model servers, OpenAI-compatible backends,
and the built-in embedder."""
