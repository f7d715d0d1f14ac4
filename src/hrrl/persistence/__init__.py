"""Checkpoints on disk: file formats, atomic moves, layout, the store, the save schedule, the payload, resume."""
