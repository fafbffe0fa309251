"""The project's own two-stage wav2vec2 recipe in miniature (data, pretraining, CTC fine-tuning)."""
