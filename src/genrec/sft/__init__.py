"""Supervised fine-tuning: the task mixture (:mod:`.dataset`) and training (:mod:`.train`)."""
