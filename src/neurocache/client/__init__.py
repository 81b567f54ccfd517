"""The hub's clients: `HubClient`, the Python client plugins, scripts, the CLI and the MCP
server use (the public HTTP API, nothing internal), and `browser/`, the web UI the hub
serves at `/` (static ES modules, package data)."""

from neurocache.client.hub import HubClient, HubError

__all__ = ["HubClient", "HubError"]
