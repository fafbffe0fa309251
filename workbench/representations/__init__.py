"""Representations: frame labels, embeddings (UMAP/PCA), quantizer codebook usage, probes and CKA."""
