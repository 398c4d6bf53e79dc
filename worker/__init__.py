"""The worker: owns the model, runs predictions for the gateway's jobs."""
