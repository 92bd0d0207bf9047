"""The Lambda functions' logic: processor, scaler, finalizer (app.py binds them)."""
