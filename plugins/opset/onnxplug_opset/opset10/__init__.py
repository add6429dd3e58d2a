"""Conversions new or different at opset 10."""
