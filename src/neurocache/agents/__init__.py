"""Agents: personas with their own model, knowledge and memories in tiers, consolidated on
a schedule."""
