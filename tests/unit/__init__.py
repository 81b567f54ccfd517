"""The fast tier: no process, no model, no hub; `make test-fast` runs these alone."""
