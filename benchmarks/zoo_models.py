"""The model zoo: architectures built from their configs with random weights (no downloads).

Each entry builds ``(model, kwargs, dynamic_axes, second_kwargs)``: the example inputs, the
dynamic axes a tutorial would mark (batch and sequence length, or batch, height and width), and
inputs at other sizes of those axes for the second check (another image for the detection
models, whose input has no dynamic axis; they are built as the vision plugin's detection cases
are). An entry may add a fifth element, ``compare(actual, expected)``, that replaces the
element-wise comparison with eager (detections are compared as detections). Configs are shrunk
to a few small layers so that the zoo measures coverage, not speed (``benchmarks/models.py``
measures real sizes). Weights are random but not degenerate: biases are drawn, BatchNorm statistics are
calibrated on a batch of inputs before the model is put in eval mode.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

SHRINK = {
    "hidden_size": 64, "n_embd": 64, "d_model": 64, "dim": 64, "embed_dim": 64,
    "num_hidden_layers": 2, "n_layer": 2, "num_layers": 2, "n_layers": 2,
    "encoder_layers": 2, "decoder_layers": 2, "num_decoder_layers": 2,
    "num_attention_heads": 4, "n_head": 4, "n_heads": 4, "encoder_attention_heads": 4,
    "decoder_attention_heads": 4, "num_heads": 4,
    "intermediate_size": 128, "n_inner": 128, "ffn_dim": 128, "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128, "d_ff": 128, "hidden_dim": 128,
    "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 128,
    "n_positions": 128, "embedding_size": 64, "rotary_dim": 8,
}
TEXT_ENCODERS = ["bert", "roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2",
                 "xlm-roberta", "camembert", "mpnet", "ernie", "squeezebert", "mobilebert",
                 "convbert", "funnel", "nystromformer", "rembert", "megatron-bert"]
DECODERS = ["gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "llama", "mistral", "mixtral",
            "qwen2", "qwen3", "phi", "phi3", "gemma", "gemma2", "gemma3_text", "stablelm",
            "starcoder2", "olmo", "codegen", "granite", "cohere", "gpt_bigcode"]
# Gemma 3: one sliding-window layer and one global layer (its default pattern is five local to
# one global, so two layers would all be local). Without a cache the window (6) is shorter than
# the sequences (8 and 16), so the local mask matters; with one, the window (16) holds every
# past token at both sizes, so all layers share the "past" axis.
GEMMA3_LAYERS = ["sliding_attention", "full_attention"]
DECODER_EXTRA = {"gemma3_text": {"layer_types": GEMMA3_LAYERS, "sliding_window": 6}}
CACHE_EXTRA = {"gemma3_text": {"layer_types": GEMMA3_LAYERS, "sliding_window": 16}}
ENCODER_DECODERS = ["t5", "bart", "mbart", "pegasus", "marian", "mt5", "blenderbot-small"]
VISION = ["vit", "deit", "beit", "swin", "convnext", "resnet", "regnet", "mobilenet_v2",
          "efficientnet", "dinov2", "segformer", "levit", "poolformer", "mobilevit", "convnextv2",
          "bit", "focalnet", "dpt"]
# Funnel: its depth is its block sizes, and its positions are Python ints of the length.
TEXT_EXTRA = {"funnel": {"block_sizes": [1, 1], "d_inner": 128, "architectures": ["FunnelModel"],
                         "seq_dynamic": False}}
AUDIO = ["wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper"]
MULTIMODAL = ["clip", "siglip"]
# Recurrent layers as users stack them: (module, batch_first). torch.export fixes their
# sequence length, so only the batch is dynamic.
RECURRENT = {
    "lstm-2-layers-bidirectional": lambda: (torch.nn.LSTM(16, 32, num_layers=2, bidirectional=True,
                                                          batch_first=True), True),
    "gru": lambda: (torch.nn.GRU(16, 32, num_layers=2), False),
    "rnn-tanh": lambda: (torch.nn.RNN(16, 32, batch_first=True), True),
}


def _config(model_type: str, shrink: bool = True, **extra):
    import transformers

    cfg = transformers.AutoConfig.for_model(model_type)
    for key, value in {**(SHRINK if shrink else {}), **extra}.items():
        if key in extra and not isinstance(value, int):
            setattr(cfg, key, value)  # a list-valued setting the caller asked for
        elif hasattr(cfg, key) and isinstance(getattr(cfg, key), int):
            try:
                setattr(cfg, key, value)
            except NotImplementedError:  # derived from other settings (Funnel's layer count)
                pass
    for sub in ("text_config", "vision_config"):
        part = getattr(cfg, sub, None)
        if part is not None:
            for key, value in SHRINK.items():
                if hasattr(part, key) and isinstance(getattr(part, key), int):
                    setattr(part, key, value)
    if hasattr(cfg, "head_dim") and isinstance(cfg.head_dim, int):
        try:
            cfg.head_dim = 16
        except AttributeError:  # derived from the hidden size (Falcon)
            pass
    vocab = getattr(cfg, "vocab_size", None)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
        value = getattr(cfg, key, None)
        if isinstance(vocab, int) and isinstance(value, int) and value >= vocab:
            setattr(cfg, key, 1)
    return cfg


def perturb(model: torch.nn.Module, calibrate: Callable[[], None] | None = None) -> torch.nn.Module:
    """Random non-zero biases, and BatchNorm statistics from real batches, then eval mode."""
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.nn.Parameter) and bias.dim() == 1:
                bias.normal_(0, 0.1)
    if calibrate is not None and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                                     for m in model.modules()):
        model.train()
        with torch.no_grad():
            for _ in range(2):
                calibrate()
    return model.eval()


def _text(model_type: str, auto: str = "AutoModel", batch=2, seq=8, seq_dynamic=True, **extra):
    import transformers

    cfg = _config(model_type, **extra)
    model = getattr(transformers, auto).from_config(cfg)

    def inputs(b, s):
        g = torch.Generator().manual_seed(b * 100 + s)
        ids = torch.randint(3, min(cfg.vocab_size, 500), (b, s), generator=g)
        return {"input_ids": ids, "attention_mask": torch.ones(b, s, dtype=torch.long)}

    if not seq_dynamic:  # the model fixes its length (Funnel builds positions from Python ints)
        axes = {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}}
        return perturb(model), inputs(batch, seq), axes, inputs(batch + 1, seq)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    return perturb(model), inputs(batch, seq), axes, inputs(batch + 1, seq * 2)


def _decoder_no_cache(model_type: str):
    model, kw, axes, second = _text(model_type, "AutoModelForCausalLM",
                                    **DECODER_EXTRA.get(model_type, {}))
    kw["use_cache"] = second["use_cache"] = False
    return model, kw, axes, second


def _decoder_cache(model_type: str):
    """A decode step: 2 new tokens after a past of 5, all of batch, new tokens and past dynamic."""
    model, _, _, _ = _text(model_type, "AutoModelForCausalLM", **CACHE_EXTRA.get(model_type, {}))

    def inputs(b, past, new):
        g = torch.Generator().manual_seed(b * 100 + past)
        with torch.no_grad():
            out = model(torch.randint(3, 500, (b, past), generator=g), use_cache=True)
        cache = getattr(out, "cache", None) or out.past_key_values
        return {"input_ids": torch.randint(3, 500, (b, new), generator=g),
                "attention_mask": torch.ones(b, past + new, dtype=torch.long),
                "past_key_values": cache, "use_cache": True}

    kw = inputs(2, 5, 2)
    layers = len(kw["past_key_values"].layers)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"}}
    for i in range(layers):
        for kv in ("key", "value"):
            axes[f"past_key_values.{i}.{kv}"] = {0: "batch", 2: "past"}
    return model, kw, axes, inputs(3, 9, 1)


def _encoder_decoder(model_type: str):
    import transformers

    cfg = _config(model_type)
    model = transformers.AutoModelForSeq2SeqLM.from_config(cfg)

    def inputs(b, s, t):
        g = torch.Generator().manual_seed(b * 100 + s)
        return {"input_ids": torch.randint(3, 500, (b, s), generator=g),
                "attention_mask": torch.ones(b, s, dtype=torch.long),
                "decoder_input_ids": torch.randint(3, 500, (b, t), generator=g),
                "use_cache": False}

    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "decoder_input_ids": {0: "batch", 1: "target"}}
    return perturb(model), inputs(2, 8, 4), axes, inputs(3, 12, 6)


def _vision(model_type: str, size=64):
    import transformers

    # Hierarchical vision configs tie widths, heads and depths together in lists: keep their
    # default sizes (only the image is small).
    cfg = _config(model_type, shrink=False, image_size=size)
    if hasattr(cfg, "image_size"):
        cfg.image_size = size
    if model_type == "swin":  # windows that tile the small image's feature maps (16, 8, 4, 2)
        cfg.window_size = 2
    model = transformers.AutoModel.from_config(cfg)
    channels = getattr(cfg, "num_channels", 3)

    def inputs(b, h, w):
        g = torch.Generator().manual_seed(b + h)
        return {"pixel_values": torch.randn(b, channels, h, w, generator=g)}

    calibrate = (lambda: model(**inputs(4, size, size)))
    axes = {"pixel_values": {0: "batch"}}
    return perturb(model, calibrate), inputs(2, size, size), axes, inputs(3, size, size)


def _audio(model_type: str):
    import transformers

    if model_type == "whisper":
        cfg = _config(model_type, num_mel_bins=80, max_source_positions=64, max_target_positions=64)
        model = transformers.WhisperModel(cfg)

        def inputs(b, t):
            g = torch.Generator().manual_seed(b + t)
            return {"input_features": torch.randn(b, 80, 128, generator=g),
                    "decoder_input_ids": torch.randint(3, 500, (b, t), generator=g),
                    "use_cache": False}

        axes = {"input_features": {0: "batch"}, "decoder_input_ids": {0: "batch", 1: "target"}}
        return perturb(model), inputs(2, 4), axes, inputs(3, 7)
    cfg = _config(model_type, conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2),
                  num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    for key, value in {"conv_dim": [32, 32], "conv_kernel": [10, 3], "conv_stride": [5, 2]}.items():
        setattr(cfg, key, value)
    cfg.num_feat_extract_layers = 2
    model = transformers.AutoModel.from_config(cfg)

    def inputs(b, t):
        g = torch.Generator().manual_seed(b + t)
        return {"input_values": torch.randn(b, t, generator=g)}

    return perturb(model), inputs(2, 800), {"input_values": {0: "batch", 1: "samples"}}, inputs(3, 1600)


def _recurrent(name: str):
    """A recurrent stack over ``[batch, seq, 16]`` (or ``[seq, batch, 16]``), batch dynamic."""
    torch.manual_seed(0)
    module, batch_first = RECURRENT[name]()

    class Sequence(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = module

        def forward(self, x):
            out, *_ = self.rnn(x)
            return out

    def inputs(b):
        g = torch.Generator().manual_seed(b)
        shape = (b, 6, 16) if batch_first else (6, b, 16)
        return {"x": torch.randn(*shape, generator=g)}

    return Sequence().eval(), inputs(2), {"x": {0 if batch_first else 1: "batch"}}, inputs(3)


def _multimodal(model_type: str):
    import transformers

    cfg = _config(model_type)
    if hasattr(cfg.text_config, "projection_size"):  # SigLIP: the text head maps to the image width
        cfg.text_config.projection_size = cfg.vision_config.hidden_size
    cfg.vision_config.image_size = 32
    cfg.vision_config.patch_size = 8
    model = transformers.AutoModel.from_config(cfg)

    def inputs(b, s):
        g = torch.Generator().manual_seed(b + s)
        return {"input_ids": torch.randint(3, 500, (b, s), generator=g),
                "pixel_values": torch.randn(b, 3, 32, 32, generator=g)}

    axes = {"input_ids": {0: "batch", 1: "seq"}, "pixel_values": {0: "batch"}}
    return perturb(model), inputs(2, 8), axes, inputs(3, 12)


TORCHVISION = {
    "classification": ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny",
                       "regnet_y_400mf", "shufflenet_v2_x0_5", "squeezenet1_0", "densenet121",
                       "mnasnet0_5", "swin_t", "vit_b_16", "maxvit_t"],
    "segmentation": ["fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"],
    "detection": ["fasterrcnn_mobilenet_v3_large_fpn", "retinanet_resnet50_fpn", "ssdlite320_mobilenet_v3_large",
                  "fcos_resnet50_fpn"],
    "video": ["r3d_18", "s3d"],
}
TIMM = ["resnet50", "efficientnet_b0", "vit_tiny_patch16_224", "deit_tiny_patch16_224",
        "convnext_nano", "mobilenetv3_small_100", "regnety_002", "swin_tiny_patch4_window7_224",
        "levit_128s", "mixer_b16_224", "ghostnet_100", "dla34", "rexnet_100", "coat_tiny"]


def _image_inputs(batch: int, size: int, channels: int = 3, frames: int | None = None):
    g = torch.Generator().manual_seed(batch + size)
    shape = (batch, channels, frames, size, size) if frames else (batch, channels, size, size)
    return torch.randn(*shape, generator=g)


def _detection(name: str):
    """A torchvision detection model as the vision plugin's cases build it (score threshold 0,
    weights drawn so that scores differ and detections are never empty: see
    ``onnxplug_vision.detection``), two images, compared as detections."""
    from onnxplug_vision.detection import CASES, DetectionCase, compare, images

    # another model is kept at the images' size too (torchvision resizes to 800 by default)
    case = next((c for c in CASES if c.name == name), None) or DetectionCase(name, resize=True)
    return case.build(), {"images": images(0)}, {}, {"images": images(1)}, compare


def _torchvision(family: str, name: str):
    import torchvision

    if family == "detection":
        return _detection(name)
    model = getattr(torchvision.models.video if family == "video" else
                    torchvision.models.segmentation if family == "segmentation" else
                    torchvision.models, name)(
        weights=None, **({"weights_backbone": None} if family == "segmentation" else {}))
    # S3D pools its last 2 x 7 x 7 features: it needs 224 pixels and at least 16 frames
    size, frames = ((224, 16) if name == "s3d" else (112, 8)) if family == "video" else (224, None)
    model = perturb(model, lambda: model(_image_inputs(4, size, frames=frames)))
    x = next(iter(inspect.signature(model.forward).parameters))  # "x", or "input" (LRASPP)
    return (model, {x: _image_inputs(2, size, frames=frames)}, {x: {0: "batch"}},
            {x: _image_inputs(3, size, frames=frames)})


def _timm(name: str):
    import timm

    model = timm.create_model(name, pretrained=False)
    size = model.default_cfg.get("input_size", (3, 224, 224))[-1]
    model = perturb(model, lambda: model(_image_inputs(4, size)))
    return model, {"x": _image_inputs(2, size)}, {"x": {0: "batch"}}, {"x": _image_inputs(3, size)}


def vision_zoo() -> dict[str, Callable[[], tuple]]:
    """torchvision and timm models, when they import (see benchmarks/vision_env.sh)."""
    entries: dict[str, Callable[[], tuple]] = {}
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed, or its compiled ops are missing
        return entries
    for family, names in TORCHVISION.items():
        for n in names:
            entries[f"torchvision-{family}/{n}"] = lambda f=family, n=n: _torchvision(f, n)
    try:
        import timm  # noqa: F401
    except Exception:  # noqa: BLE001
        return entries
    for n in TIMM:
        entries[f"timm/{n}"] = lambda n=n: _timm(n)
    return entries


def zoo() -> dict[str, Callable[[], tuple]]:
    """Every model of the zoo by name, each a builder (called in the worker process)."""
    entries: dict[str, Callable[[], tuple]] = {}
    for t in TEXT_ENCODERS:
        entries[f"text/{t}"] = lambda t=t: _text(t, **TEXT_EXTRA.get(t, {}))
    for t in DECODERS:
        entries[f"decoder/{t}"] = lambda t=t: _decoder_no_cache(t)
    for t in ["gpt2", "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text",
              "gpt_neox", "falcon"]:
        entries[f"decoder-cache/{t}"] = lambda t=t: _decoder_cache(t)
    for t in ENCODER_DECODERS:
        entries[f"seq2seq/{t}"] = lambda t=t: _encoder_decoder(t)
    for t in VISION:
        entries[f"vision/{t}"] = lambda t=t: _vision(t)
    for t in AUDIO:
        entries[f"audio/{t}"] = lambda t=t: _audio(t)
    for t in MULTIMODAL:
        entries[f"multimodal/{t}"] = lambda t=t: _multimodal(t)
    for t in RECURRENT:
        entries[f"recurrent/{t}"] = lambda t=t: _recurrent(t)
    entries.update(vision_zoo())
    return entries


# A fast subset for the default test suite (tests/test_zoo_subset.py).
FAST = ["text/bert", "text/distilbert", "decoder/gpt2", "decoder/llama", "decoder-cache/llama",
        "seq2seq/t5", "vision/vit", "vision/resnet", "vision/deit", "audio/wav2vec2"]
