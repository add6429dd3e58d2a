"""onnxplug-opset: symbolic functions from ATen to the standard ONNX domain.

Layout: ``opsetN/`` holds the conversions that are new or different at opset N, one module
per family of ops (``elementwise``, ``shape``, ``nn``...). A conversion registered in
``opsetN`` serves every target opset from N until a later package registers the same op.
Shared maths lives in ``helpers``. ``plugin`` registers everything with the core.
"""
