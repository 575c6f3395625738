"""Command-line tools (``brats-predict``) that share the app's Qt-free code paths."""
