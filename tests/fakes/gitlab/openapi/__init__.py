"""GitLab's OpenAPI description, the vendored subset and the validator (see README.md)."""
