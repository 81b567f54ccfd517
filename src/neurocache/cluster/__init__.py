"""Team mode on one machine: `neurocache cluster up` starts PostgreSQL (with pgvector),
Redis, N hub processes under gunicorn and HAProxy in front, all on loopback."""
