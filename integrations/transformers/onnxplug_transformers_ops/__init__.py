"""The onnxplug plugin of onnxplug-transformers: conversions of transformers' own custom ops.

It lives in a package of its own, apart from ``onnxplug_transformers`` (the backend of
transformers' export API), so that every ``onnxplug.export`` can load the plugin (entry point
``transformers`` -> ``onnxplug_transformers_ops.plugin``) without importing
``transformers.exporters``, which pulls onnxscript and torch._dynamo and costs seconds. Nothing
here imports transformers: a conversion only names the op key it converts.
"""
