"""simcache: exact, fast simulation of what a neural-network layer does to a memory hierarchy."""

__version__ = "0.1.0"
