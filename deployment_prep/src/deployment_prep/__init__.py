"""deployment prep stage."""
