"""The `neurocache` command and its subcommands."""
