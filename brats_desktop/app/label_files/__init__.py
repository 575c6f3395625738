"""Label files opened onto a patient: File → Open Segmentation…, drops, the app's own outputs."""
