"""The light-relay benchmark: `make bench` runs `python -m bench.relay`."""
