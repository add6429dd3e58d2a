"""The hooks a plugin can implement: the contract between the core and every plugin.

A plugin is any importable object (usually a module) with functions decorated by
``onnxplug.hookimpl`` and named after the hooks below. Publish it with an entry point in the
group ``onnxplug``::

    [project.entry-points.onnxplug]
    my_ops = "my_ops.plugin"

and every ``onnxplug.export()`` in an environment where it is installed loads it. Hook
implementations may accept any subset of a hook's arguments, as with pytest.

Most hooks take a ``register`` callback rather than returning values: a plugin can contribute
many things in one call, and the core knows which plugin contributed each one (reports, the
``onnxplug plugins`` listing and conflict messages need that).

A plugin module may set ``ONNXPLUG_PRIORITY = <int>`` (default 0): when two plugins register the
same op key at the same opset, the higher priority wins; equal priorities are decided by plugin
name and reported as a conflict.

What is stable, for plugin authors (changed only with a deprecation period):

* the hooks below: their names, their arguments, and the arguments of each ``register``;
* ``onnxplug.symbolic``, ``onnxplug.register_symbolic``/``unregister_symbolic`` and the
  documented surface of ``g`` (``onnxplug.GraphContext``, see the plugin guide);
* from ``onnxplug.registry``: ``SymbolicFunction`` (``key``, ``opset``, ``fn``, ``plugin``,
  ``priority``, ``domain``, ``qualname``, ``location``), ``Registry.lookup``/``winner``/``picks``
  and ``observe_picks`` (what the registries of an export picked, as ``Pick(key, opset, entry)``);
* from ``onnxplug.passes``: ``PassContext``, ``ir_pass`` and the pass contract (an IR pass
  returns an ``onnx_ir.passes.PassResult``);
* ``onnxplug.opsets`` (``MIN_OPSET``, ``DEFAULT_OPSET``, ``NEWEST_OPSET``) and the test kit,
  ``onnxplug.testing`` (``export_and_compare``, ``OpCase``, ``Nodes``; ``testing.usage``'s
  ``ConversionUsage`` and ``UsageCheck``).

Everything else belongs to the core and may change in any release: names starting with ``_``,
the lowering and decomposition machinery (``onnxplug.lowering``, ``onnxplug.decompose``,
``onnxplug.failures``), the CLI's functions (its commands and ``--json`` output are documented
in docs/cli.md) and the attributes of ``g`` the plugin guide does not list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    import torch

    from .options import ExportOptions

PROJECT = "onnxplug"
BUILTIN = "onnxplug.builtin"  # the plugin name the core's own hooks are registered under
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def onnxplug_register_symbolics(register: Callable[..., None]) -> None:
    """Contribute symbolic functions: the conversions of operators to ONNX.

    Call ``register(fn)`` once per function decorated with :func:`onnxplug.symbolic`, or
    ``register(fn, key="aten::gelu", opset=20)`` for an undecorated one. ``register`` validates
    the key, the opset and the function (callable, with the graph context ``g`` as its first
    parameter) at once and raises :class:`onnxplug.errors.PluginError` if one is wrong; a hook
    that raises makes its plugin faulty: it is dropped whole, with a warning naming its
    distribution (an error with ``ONNXPLUG_STRICT=1``), and the other plugins still load.

    ``complex=True`` (``@onnxplug.symbolic(key, complex=True)`` or ``register(fn, key=...,
    complex=True)``) declares that ``fn`` accepts complex tensors, which arrive as real pair
    values (a trailing dim of 2, ``value.meta["complex_pairs"]`` set). A node with a complex
    input is converted only by such a function; a key with none is reported as having no
    conversion for complex inputs. A node without one prefers the other registrations.
    The core records where each function was registered: ``onnxplug ops --where KEY`` shows the
    ``def`` of a module-level function and, for one a factory made, the module-level line (or
    the ``register(fn, key=...)`` call) that registered it.

    A symbolic function is called as ``fn(g, *args, **kwargs)`` with the ATen schema's
    arguments (defaults filled in, keyword-only arguments as keywords); tensors arrive as
    ``onnx_ir.Value`` objects, everything else as the Python value. It returns the ONNX value
    (or a tuple of them, for an op with several outputs). See :class:`onnxplug.GraphContext`.

    Example::

        @onnxplug.symbolic("aten::relu", opset=7)
        def relu(g, x):
            return g.op("Relu", x)

        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(relu)
    """


@hookspec(firstresult=True)
def onnxplug_capture(
    model: Any, args: tuple, kwargs: dict, options: "ExportOptions"
) -> "torch.export.ExportedProgram | None":
    """Capture ``model`` called with ``args``/``kwargs`` into a ``torch.export.ExportedProgram``.

    Return None to let the next implementation try; the first non-None result is used. The
    built-in implementation (``trylast``) handles ``nn.Module`` (non-strict ``torch.export``,
    then strict), ``ExportedProgram`` and TorchScript. Implement this to support a new kind of
    model object; raise :class:`onnxplug.errors.CaptureError` with a helpful message to stop.

    ``options.training`` has already been applied to the module (``train()``/``eval()``); the
    core restores the module's state afterwards.
    """


@hookspec
def onnxplug_register_fx_passes(register: Callable[..., None]) -> None:
    """Contribute passes that rewrite the captured ``ExportedProgram`` before lowering.

    ``register(fn, order=500, name=None)``: ``fn(exported_program, options)`` returns the
    (possibly new) ExportedProgram. Passes run in ascending ``order``, then by name.
    """


@hookspec
def onnxplug_register_ir_passes(register: Callable[..., None]) -> None:
    """Contribute passes over the ONNX model (an ``onnx_ir.Model``) after lowering.

    ``register(fn, order=500, name=None, provides=())``: ``fn(model, context)`` follows
    ``onnx_ir``'s pass contract: it returns ``onnx_ir.passes.PassResult(model, modified)``, the
    model the next pass gets (usually the same object, changed in place) and whether it changed
    anything. An ``onnx_ir`` pass object fits as is (wrap a pass class with
    :func:`onnxplug.passes.ir_pass`). Returning None (changed in place) or a bare
    ``onnx_ir.Model`` is still accepted but deprecated. ``context`` is an
    :class:`onnxplug.passes.PassContext` with the options, the ExportedProgram and the FX metadata
    of every node. ``provides`` names export features the pass implements (for example
    ``"export_modules_as_functions"``): the core refuses an option whose feature no installed
    pass provides. Built-in passes use orders 100 (cleanup), 900 (deduplication) and 950
    (topological sort); run local-function or fusion passes in between.

    Example::

        def drop_doc_strings(model, context):
            changed = False
            for node in model.graph:
                changed |= bool(node.doc_string)
                node.doc_string = None
            return onnx_ir.passes.PassResult(model, modified=changed)

        @onnxplug.hookimpl
        def onnxplug_register_ir_passes(register):
            register(drop_doc_strings, order=700)
    """


@hookspec
def onnxplug_custom_opsets() -> dict[str, int]:
    """Return ``{domain: version}`` for custom domains this plugin's symbolic functions emit.

    Used when the user's ``custom_opsets=`` does not name a domain the model uses. A domain that
    no plugin declares and the user does not name is imported at version 1.
    """


@hookspec
def onnxplug_register_fallbacks(register: Callable[..., None]) -> None:
    """Contribute generic conversions that an ``operator_export_type`` asks for.

    ``register(make, export_type, first=False)``: ``make(op)`` receives a
    ``torch._ops.OpOverload`` (any key: ``aten::linalg_svd.default``, ``mylib::scale.default``)
    and returns a symbolic function converting that op, called like any other
    (``fn(g, *args, **kwargs)`` with every schema argument, defaults filled in), or None when
    this fallback does not cover the op. ``export_type`` is the
    :class:`onnxplug.OperatorExportTypes` member that turns it on: a fallback is consulted only
    in exports with that ``operator_export_type``, and registering one is what makes that export
    type available (without one, asking for it is an :class:`onnxplug.errors.OptionError`).

    With ``first=False`` the fallback ranks below every real conversion: it serves an op only
    when the export would otherwise fail on it, that is when no symbolic function converts it
    at the target opset (or its conversion declined) and PyTorch's decomposition cannot replace
    it either; the op is then emitted by the fallback as the user's model has it. With
    ``first=True`` it serves every op it covers before the plugins' conversions (a call's
    ``custom_symbolics=`` and ``register_symbolic`` still win). The core's own
    ``onnxplug.aten_export`` implements ``ONNX_ATEN`` (``first=True``), ``ONNX_ATEN_FALLBACK``
    and ``ONNX_FALLTHROUGH`` this way. A fallback does not handle in-place ops: the core lowers
    them through their out-of-place overload, as for any conversion.

    Example::

        def make(op):
            if op.namespace != "mylib":
                return None
            def emit(g, *args, **kwargs):
                return g.op(f"com.example::{op._schema.name.split('::')[1]}",
                            *[a for a in args if isinstance(a, onnx_ir.Value)])
            return emit

        @onnxplug.hookimpl
        def onnxplug_register_fallbacks(register):
            register(make, onnxplug.OperatorExportTypes.ONNX_FALLTHROUGH)
    """


@hookspec
def onnxplug_register_test_cases(register: Callable[..., None]) -> None:
    """Declare conformance cases for the plugin test kit (``onnxplug.testing.OpCase``).

    ``register(OpCase(...))`` once per case; ``pytest --onnxplug-plugin NAME`` exports every case
    at every opset of its range, checks it, runs it in onnxruntime and compares with PyTorch.
    """
