"""BraTS Desktop: view, segment, compare and correct brain-tumour MRI on your own machine."""

__version__ = "0.1.0"
