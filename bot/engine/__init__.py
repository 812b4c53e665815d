"""The policy engine: policy model and loading, targets (parsers), CEL evaluation, findings."""
