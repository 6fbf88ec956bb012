"""cms package."""
