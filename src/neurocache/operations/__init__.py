"""Carrying a hub's data: backups (taken while it runs, on a schedule), restores, and
bundles exported from one hub and imported into another."""
