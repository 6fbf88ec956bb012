"""pec package."""
