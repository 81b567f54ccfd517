"""The WSGI app gunicorn serves in team mode (`neurocache.cluster.wsgi:app`): a hub made
from the environment's settings (NEUROCACHE_*), one per gunicorn worker process."""

from neurocache.startup import quick_start

with quick_start():
    from neurocache.app import create_app

    app = create_app()
