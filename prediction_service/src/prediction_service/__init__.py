"""prediction service stage."""
