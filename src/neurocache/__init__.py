"""Neurocache: a local-first memory hub."""

__version__ = "0.1.0"
