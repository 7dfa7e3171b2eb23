"""Semantic IDs: residual quantisers, collision resolution, token format, MiniOneRec interop."""
