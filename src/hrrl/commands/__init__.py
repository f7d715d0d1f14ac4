"""Sub-commands of the ``hrrl`` CLI, one module each."""
