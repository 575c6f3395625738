"""Uncertainty of the prediction: heat-map layer, its dock, uncertain volumes, Next Uncertain Region."""
