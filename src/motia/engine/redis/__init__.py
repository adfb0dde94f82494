"""The Redis store: engine nodes sharing one Redis (`--store redis://...`)."""
