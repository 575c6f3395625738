"""Correcting label layers by hand: editor, paint tool, panel, saving and crash recovery."""
