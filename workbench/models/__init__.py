"""Models: the catalogue, the shared cached registry and every loader (wav2vec2, ONNX CTC, Kokoro, voices, G2P)."""
