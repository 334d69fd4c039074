"""recdoc's own TensorFlow kernels: C++ sources next to this file, compiled on first use (see `build.py`)."""
