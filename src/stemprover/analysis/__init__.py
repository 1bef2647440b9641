"""Artifact analysis: what is wrong with a stem, where and how badly."""

from stemprover.analysis.detectors import DETECTORS, analyze

__all__ = ["DETECTORS", "analyze"]
