"""Core library: pure array/tensor functions; only ``edgeden.io`` touches the disk.

Array contract: float32, NCHW (or CHW for single images), values in [0, 1] after black/white
level normalisation. Raw is packed to 4 channels in RGGB order at half resolution. Anything
else says so in its name (``*_u16``, ``*_hwc``).
"""
