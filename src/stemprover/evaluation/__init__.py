"""Metrics, baselines and evaluation runs."""
