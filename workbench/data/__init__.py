"""Data: audio loading, corpora and their loaders, the on-disk cache of derived arrays (the bottom wing)."""
