"""data ingestion stage."""
