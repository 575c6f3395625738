"""Slice views and the display/layers docks: what the user looks at."""
