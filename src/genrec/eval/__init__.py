"""Evaluation: ranking metrics and generative-model evaluation."""
