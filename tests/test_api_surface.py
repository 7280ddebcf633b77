"""The public API's names, as a snapshot: a name that appears or disappears is a decision, made
here on purpose, not a side effect of a refactor. And importing stylegram does no work."""
from __future__ import annotations

import inspect
import re
import subprocess
import sys

import stylegram
import stylegram.explore

API = ["ConfigError", "FeatureNet", "HookedNet", "InputError", "Iterate", "LayerInfo", "NumericalError", "ResourceError",
       "StylegramError", "TransferConfig", "TransferResult", "WeightsError", "__version__", "build_net",
       "content_loss", "explore_units", "gram", "list_nets", "load_image", "save_image", "style_layer_loss",
       "texture", "transfer", "tv_loss"]
EXPLORE = ["DEFAULT_LAYERS", "HookedNet", "LayerGram", "Reconstruction", "UnitScan", "UnitTopK", "activation_grid",
           "activation_maps", "choose_units", "crop_box", "explore_activations", "explore_gram",
           "explore_reconstruct", "explore_units", "gram_figures", "gram_view", "heatmap", "layer_sheet",
           "list_images", "load_view", "reconstruct", "reconstruction_figure", "reconstructions", "resolve_net",
           "scan_units", "unit_box", "unit_grid", "write_report"]


def test_public_names_are_the_snapshot():
    assert sorted(stylegram.__all__) == sorted(API)
    assert sorted(stylegram.explore.__all__) == sorted(EXPLORE)
    for module, names in ((stylegram, API), (stylegram.explore, EXPLORE)):
        for name in names:
            assert getattr(module, name) is not None, name


def test_public_functions_have_docstrings_and_type_hints():
    for module, names in ((stylegram, API), (stylegram.explore, EXPLORE)):
        for name in names:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                sig = inspect.signature(obj)
                assert inspect.getdoc(obj), f"{name}: no docstring"
                assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return type"
                untyped = [p.name for p in sig.parameters.values()
                           if p.annotation is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
                assert not untyped, f"{name}: parameters without a type: {untyped}"
            elif inspect.isclass(obj):
                assert inspect.getdoc(obj), f"{name}: no docstring"


SHAPE = re.compile(r"\((?:\d+|[A-Za-z]\w*)(?:, (?:\d+|\*?[A-Za-z]\w*|\.\.\.))+\)")  # (1, 3, H, W), (B, C, *spatial)
PX_PARAMS = {"size", "tile", "patch_px", "heat_px", "px"}


def test_public_functions_state_shapes_and_units():
    # a function that takes or gives tensors says their shape, and one that takes a size says its unit
    missing = []
    for module, names in ((stylegram, API), (stylegram.explore, EXPLORE)):
        for name in names:
            obj = getattr(module, name)
            if not inspect.isfunction(obj):
                continue
            doc, sig = inspect.getdoc(obj), inspect.signature(obj)
            annotations = " ".join(str(p.annotation) for p in sig.parameters.values()) + str(sig.return_annotation)
            if ("Tensor" in annotations or "ImageSource" in annotations) and not SHAPE.search(doc):
                missing.append(f"{name}: no shape")
            if PX_PARAMS & set(sig.parameters) and " px" not in doc:
                missing.append(f"{name}: no px")
    assert missing == []


def test_import_does_no_work():
    # No CLI, web, plotting or media stack and no net weights on `import stylegram`: a library user
    # pays for what they call. (The CLI's `texture` command used to pull click into the library.)
    code = ("import sys, stylegram, stylegram.explore; "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = set(eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout))
    heavy = {"click", "rich", "matplotlib", "fastapi", "uvicorn", "imageio", "imageio_ffmpeg", "soundfile", "nibabel",
             "pydicom", "safetensors", "h5py"}
    assert not loaded & heavy, sorted(loaded & heavy)


def _api_calls(pair):
    """(call, the exact error) for counts of the wrong kind given to the API's entry points: each was
    a TypeError from a comparison deep inside, or ran quietly as something else (2.5 as 2)."""
    import dataclasses

    import torch

    from stylegram import media
    from stylegram.explore import explore_reconstruct
    from stylegram.nets.random import random_bank, random_vgg
    c, s = (str(p) for p in pair)
    tiny = dict(net="random-tiny")
    sig, ex = torch.rand(1, 2, 400), torch.rand(1, 3, 48, 48)
    cube_net = stylegram.build_net("random-tiny", layers=["relu1_1", "relu2_1", "relu3_1"])
    one = {"relu1_1": 1.0}
    return [
        (lambda: stylegram.texture(s, size="x", iters=1, **tiny), "size 'x': must be a whole number"),
        (lambda: stylegram.texture(s, size=64, tileable="yes", iters=1, **tiny), "tileable 'yes': must be True or False"),
        (lambda: stylegram.texture(s, size=64, iterations=3, **tiny), "unknown option 'iterations'; valid: "
         + ", ".join(f.name for f in dataclasses.fields(stylegram.TransferConfig))),
        (lambda: stylegram.explore_units([c, s], None, layers=["relu1_1"], k=2.5, **tiny), "k 2.5: must be a whole number"),
        (lambda: stylegram.explore_units([c, s], None, layers=["relu1_1"], batch_size=None, **tiny),
         "batch_size None: must be a whole number"),
        (lambda: explore_reconstruct(c, iters="x", **tiny), "iters 'x': must be a whole number"),
        (lambda: explore_reconstruct(c, blocks=True, **tiny), "blocks True: must be a whole number"),
        (lambda: media.signal_texture(sig, 2.5), "length 2.5: must be a whole number"),
        (lambda: media.signal_texture(sig, 300, iters=None), "iters None: must be a whole number"),
        (lambda: media.solid_texture(ex, float("nan"), cube_net), "size nan: must be a whole number"),
        (lambda: random_bank(1, filters=0), "filters 0: must be at least 4, one per kernel width (3, 5, 7, 11)"),
        (lambda: media.synthesize(cube_net, ex, init=ex, style_layers=one, iters=1, slices_per_axis=-1),
         "slices_per_axis -1: must be 1 or more (None: every slice)"),  # took every slice but one
        (lambda: media.audio_texture(torch.rand(8000), 0, 1.0), "rate 0: must be a positive sample rate in Hz, e.g. 22050"),
        (lambda: media.audio_transfer(torch.rand(8000), torch.rand(8000), 8000, gl_iters=2.5),
         "gl_iters 2.5: must be a whole number"),
        (lambda: random_vgg(width=float("nan")), "width nan: must be a number above 0 and at most 8 (1: VGG's own channels)"),
        (lambda: random_vgg(width=0), "width 0: must be a number above 0 and at most 8 (1: VGG's own channels)"),
        (lambda: stylegram.explore_units([c, s], "out", layers=["relu1_1"], n_units=0, **tiny),
         "n_units 0: must be 1 or more units per sheet"),  # an IndexError after the whole scan
        (lambda: stylegram.explore_units([c, s], None, net="bank1d", layers=["relu"]),
         "net 'bank1d' works on 1D data; the explorer looks at images: use vgg16-hed, vgg16, vgg19, random, "
         "random-tiny, bank2d"),  # a conv1d RuntimeError
        (lambda: stylegram.explore_units([c, s], None, layers=["relu1_1"], threads=True, **tiny),
         "threads True: must be a whole number"),
        # a negative step climbs the loss without a word; every optimizer's lr is checked in one place
        (lambda: media.synthesize(cube_net, ex, init=ex, style_layers=one, iters=2, optimizer="adam", lr=-1),
         "lr -1: must be a positive number"),
        (lambda: media.synthesize(cube_net, ex, init=ex, style_layers=one, iters=2, lr=float("nan")),
         "lr nan: must be a positive number"),
    ]


def test_api_counts_of_the_wrong_kind_are_one_line(pair):
    import pytest
    for call, message in _api_calls(pair):
        with pytest.raises(stylegram.ConfigError) as err:
            call()
        assert str(err.value) == message


def test_explore_units_refuses_a_unit_the_layer_lacks_before_scanning(pair, tmp_path):
    import pytest
    seen = []
    with pytest.raises(stylegram.ConfigError) as e:
        stylegram.explore_units([str(p) for p in pair], tmp_path / "u", net="random-tiny", layers=["relu1_1"], size=32,
                                rule="indices", indices={"relu1_1": [0, 999]}, callback=seen.append)
    assert str(e.value) == "unit 999 does not exist; layer relu1_1 has units 0..7" and seen == []


def test_explore_units_threads_are_for_its_scan_only(pair):
    import torch
    before = torch.get_num_threads()
    scan, _ = stylegram.explore_units([str(p) for p in pair], None, net="random-tiny", layers=["relu1_1"], size=32,
                                      threads=before + 1)
    assert scan.done == 2 and torch.get_num_threads() == before  # torch's count is the whole process's


def test_counts_from_numpy_are_whole_numbers_everywhere(pair):
    # The explorer's counts went through isinstance(x, int): numpy integers were refused, True taken as 1.
    import numpy as np
    import pytest
    from stylegram.explore import explore_activations, explore_gram
    c = str(pair[0])
    maps, grid = explore_activations(c, "relu1_1", net="random-tiny", size=np.int64(32), cols=np.int32(4), tile=np.int64(0))
    assert maps.shape[-1] == 32 and grid.shape[0] > 0
    views, _ = explore_gram(c, net="random-tiny", layers=["relu1_1"], size=32, n_pairs=np.int64(2))
    assert len(views["relu1_1"].pairs) == 2
    for call, message in ((lambda: explore_gram(c, net="random-tiny", layers=["relu1_1"], size=32, n_pairs=True),
                           "pairs True: must be a whole number"),
                          (lambda: stylegram.load_image(c, 0), "size 0: must be a positive number of px (or None: the "
                                                               "image's own size)")):
        with pytest.raises(stylegram.ConfigError) as e:
            call()
        assert str(e.value) == message
