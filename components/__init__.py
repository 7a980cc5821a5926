"""modelstack: Pulumi components that take a trained model to a served endpoint."""
