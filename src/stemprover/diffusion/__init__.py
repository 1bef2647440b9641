"""Noise schedules and samplers, built from config out of diffusers schedulers."""
