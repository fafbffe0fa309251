"""Figures for the workbench analyses (matplotlib; every function takes ax= and returns the figure)."""
