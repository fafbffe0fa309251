"""ASR: the analysis engine (one forward pass per utterance), CTC trellis and alignment, alignment files, ONNX export."""
