"""recdoc: train ComiRec faithfully, and diagnose why a run falls short of the paper."""

__version__ = "0.1.0"
