"""Conversions new or different at opset 12."""
