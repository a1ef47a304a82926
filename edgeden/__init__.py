"""edgeden: batch-denoise photographs with small, efficient neural networks.

Library entry points:
    edgeden.pipeline.denoise_file / denoise_image
    edgeden.models.create_arch / list_archs
    edgeden.presets.list_presets / load_preset
"""
__version__ = "0.1.0"
