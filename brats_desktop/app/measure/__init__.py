"""Measurements: ruler tool, RANO bidimensional measurement and volumes table, Go To."""
