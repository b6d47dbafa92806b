"""model training stage."""
