"""Running the bundled U-Net: worker thread, Segment menu, metrics dock, model information."""
