"""Training: data, losses, checkpoints and the accelerate loop."""
