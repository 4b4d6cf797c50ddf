"""harness: measure what compression does to a model on the device it will run on."""

__version__ = "0.1.0"
