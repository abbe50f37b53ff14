"""Scripts that are not tests, run from the project directory: ``python -m tools.<name>``."""
