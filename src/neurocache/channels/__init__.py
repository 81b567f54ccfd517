"""Channels: rooms where people and agents talk; their members, messages, presence, hot
cache, and the agents that speak in them."""
