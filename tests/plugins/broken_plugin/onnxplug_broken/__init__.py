"""A plugin that fails to import, to test that onnxplug skips it with a warning."""

raise ImportError("this plugin is broken on purpose")
