"""Watching a run: the logger (JSONL, TensorBoard, console), health alerts, the HTML report."""
