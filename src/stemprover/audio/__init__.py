"""Audio I/O, phase-aware STFT, bands and streaming overlap-add."""
