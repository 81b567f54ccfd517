"""The same hub app under gevent (monkey-patched, gevent-websocket), for the comparison in
bench/socketio_clients.py only. The hub itself runs in threading mode."""

from gevent import monkey

monkey.patch_all()

import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

import neurocache.app as app_module  # noqa: E402
from neurocache.settings import load_settings  # noqa: E402


def main() -> None:
    app_module.ASYNC_MODE = "gevent"
    app = app_module.create_app(load_settings({"data_dir": sys.argv[1], "log_level": "WARNING"}))
    server = WSGIServer(("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None)
    server.start()
    token = app.extensions["neurocache"].owner_token.value
    print(f"Open the hub: http://127.0.0.1:{server.server_port}/?token={token}", flush=True)

    def stop() -> None:
        app.extensions["socketio"].server.eio.disconnect()
        server.stop(timeout=5)

    gevent.signal_handler(signal.SIGTERM, stop)
    server.serve_forever()
    print("Neurocache stopped.", flush=True)


if __name__ == "__main__":
    main()
