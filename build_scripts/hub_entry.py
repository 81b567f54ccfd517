"""The frozen hub's entry point: the `neurocache` CLI (serve, model-server, ...).

PyInstaller freezes this script (build_scripts/neurocache.spec); the supervisor re-invokes
the same binary (`sys.executable`) in its model-server mode."""

from neurocache.startup import quick_start

with quick_start():  # the command's imports
    from neurocache.cli.main import main

if __name__ == "__main__":
    main(prog_name="neurocache")
