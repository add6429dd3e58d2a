"""onnxplug-contrib: conversions to onnxruntime's custom domains (``com.microsoft``).

A conversion here replaces a standard one only when the user names its domain in
``custom_opsets`` (``export(..., custom_opsets={"com.microsoft": 1})``).
"""
