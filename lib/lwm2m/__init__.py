"""LwM2M 1.1 client engine: data model, content formats, DM operations."""
