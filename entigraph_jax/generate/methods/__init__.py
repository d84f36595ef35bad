"""The built-in generation methods, one module each defining `METHOD` (`generate/method.py`)."""
