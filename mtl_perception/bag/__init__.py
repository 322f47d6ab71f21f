"""bag subpackage."""
