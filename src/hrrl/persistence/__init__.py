"""Checkpoints on disk: file formats, atomic moves, layout, provenance, the store, the save
schedule, the payload, resume."""
