"""Studies over many runs: baselines, compare, the ablation and its report, fault injection."""
