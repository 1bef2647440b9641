"""Training data: synthetic songs, real multitracks, artifact producers and pairs."""
