"""CPC v2 (Henaff et al., 2020) for fastai: pre-train an image encoder on unlabelled images, fine-tune it on a few labels"""

__version__ = "0.1.0"
