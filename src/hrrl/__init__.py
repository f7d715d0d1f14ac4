"""hrrl."""
