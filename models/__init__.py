"""The segmentation network, its self-describing checkpoint format and whole-volume inference.

Training (``training/``) and the app both build the network through
:func:`models.unet.build_network` and load weights through
:func:`models.checkpoint.load_model`, so there is one definition of each.
"""
