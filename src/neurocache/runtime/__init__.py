"""Background work: the job queue (ingestion and other long work, surviving restarts) and
the maintenance schedule (consolidation, retention, pruning)."""
