"""Plugins: the hub as a Model Context Protocol server (`mcp_server.py`): its tools, resources and
prompts call the public API through `HubClient`, so every rule of the API (scopes, limits,
validation, errors) holds for them; stdio (`neurocache mcp`) and the hub's `/mcp` endpoint
serve the same server."""
