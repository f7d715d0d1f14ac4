"""Trained policies outside training: export bundles, Policy, loading the online network from a checkpoint."""
