"""onnxplug-functions: turns ``nn.Module`` calls into ONNX local functions.

The core refuses ``export_modules_as_functions`` unless an installed IR pass declares
``provides=("export_modules_as_functions",)``. This distribution is where that pass lives; it
is packaged and discovered now, and registers the pass once it builds functions (the issue
"export_modules_as_functions as a plugin").
"""
