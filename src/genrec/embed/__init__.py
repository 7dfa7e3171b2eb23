"""Item text embeddings with a local Hugging Face / sentence-transformers encoder."""
