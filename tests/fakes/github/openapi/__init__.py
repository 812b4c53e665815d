"""GitHub's OpenAPI description, cut down to what the fake serves, and the validator using it."""
