from neurocache.startup import quick_start

with quick_start():  # the command's imports
    from neurocache.cli.main import main

if __name__ == "__main__":
    main()
