"""Artifact analysis: what is wrong with a stem, where and how badly."""

from stemprover.analysis.detectors import DETECTORS
from stemprover.analysis.report import analyze

__all__ = ["DETECTORS", "analyze"]
