"""The web layer: Flask blueprints, Socket.IO handlers, auth, the error shape."""
