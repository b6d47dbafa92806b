"""Model training stage: `mlops train` chooses, fits, tracks (MLflow), registers and gates a
model on a data version of the registry. See docs/model_training.md."""
