"""model monitoring stage."""
