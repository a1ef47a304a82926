"""Training: synthetic noisy data, losses, YAML recipes and the trainer behind ``edgeden train``."""
