"""gunicorn's settings for a hub process (`gunicorn -c python:neurocache.cluster.gunicorn_conf`).

One worker with threads: Flask-SocketIO's threading mode under gunicorn (its websocket is
a thread per socket), which is why one worker per process and more processes for more
hubs. On SIGTERM gunicorn stops taking connections, lets requests finish within
`graceful_timeout`, then the hub's own shutdown stops its background work in order."""

from typing import Any

worker_class = "gthread"
workers = 1
# A Socket.IO websocket holds a thread for as long as it is open: the threads bound the
# sockets one process serves (64 stalled a crowd of 100 in bench/cluster.py).
threads = 1024
graceful_timeout = 20
timeout = 0  # a Socket.IO long poll or a streamed reply may take long: never kill for it
keepalive = 30
accesslog = None
errorlog = "-"
loglevel = "warning"


def worker_exit(server: Any, worker: Any) -> None:
    from neurocache.app import hub_of

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        hub_of(app).close()
