"""The package version, in a module of its own so that anything can import it without
importing the package's heavy parts."""

__version__ = "0.3.0"
