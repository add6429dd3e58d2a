"""Conversions new or different at opset 8."""
