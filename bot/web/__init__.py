"""The web edge: webhook receivers, the first-run setup page, health. Thin by design."""
