"""Gymnasium adapter: any discrete-action Gymnasium id as a task, its exact state, tuned presets."""
