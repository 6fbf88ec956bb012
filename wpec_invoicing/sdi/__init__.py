"""sdi package."""
