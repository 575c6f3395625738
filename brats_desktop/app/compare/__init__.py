"""Comparing two label layers: the error map (false positives / negatives), Next Error, Next Lesion."""
