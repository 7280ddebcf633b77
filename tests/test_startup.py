"""Start-up: the CLI's help and `import stylegram` do not import torch, and nothing imports
torch._dynamo before a run compiles. Checked by what a fresh interpreter has loaded, not by timing:
torch took 0.7 s and torch._dynamo 0.8 s of the 2.4 s that `stylegram --help` waited on two cores
(bench/startup.py, docs/speed.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import stylegram

SRC = str(Path(stylegram.__file__).resolve().parents[1])  # the stylegram under test, not an installed one


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; which of torch and torch._dynamo it left loaded."""
    probe = code + "\nimport json, sys\nprint(json.dumps({m: m in sys.modules for m in ('torch', 'torch._dynamo')}))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[-1])


# Help the CLI gives without torch: the group's and that of every command, subcommands included,
# found by walking the group (a command added later is checked too). transfer's options come from
# TransferConfig, which lives in stylegram.config, apart from the engine: its help built them by
# importing stylegram.transfer, and torch with it (1.3 s of the 1.4 s it took on two cores).
WALK = """
import click
from stylegram.cli import cli
def paths(cmd, path):
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from paths(sub, path + [name])
HELPS = [p + ["--help"] for p in paths(cli, [])] + [["--version"]]
"""


def test_cli_help_imports_no_torch():
    code = (WALK + "from click.testing import CliRunner\n"
            "assert ['transfer', '--help'] in HELPS and ['explore', 'units', '--help'] in HELPS, HELPS\n"
            "for args in HELPS:\n"
            "    r = CliRunner().invoke(cli, args)\n"
            "    assert r.exit_code == 0 and r.output, (args, r.exit_code, r.output)\n"
            "    assert 'torch' not in sys.modules, args\n")
    assert loaded_after("import sys\n" + code) == {"torch": False, "torch._dynamo": False}


def test_transfer_help_is_built_without_torch():
    # As the console script runs it, in a process of its own: the help with every option and the
    # default preset's values beside the classic ones, and torch never imported.
    code = ("import sys\nfrom stylegram.cli import main\n"
            "try:\n    main(['transfer', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", code + "print('torch' in sys.modules)"], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == "False"
    words = " ".join(p.stdout.split())  # the help wraps at the terminal's width
    assert "--beta FLOAT style weight [default: (balanced: 0.0012; classic: 100)]" in words, words


def test_transfer_config_is_one_class_without_torch():
    # stylegram.TransferConfig, stylegram.transfer.TransferConfig and stylegram.config's are one
    # class: isinstance, pickles and --settings files see no difference; the first needs no torch.
    code = ("import pickle, stylegram\nfrom stylegram.config import TransferConfig\n"
            "cfg = stylegram.TransferConfig(size=64).validated()\n"
            "assert stylegram.TransferConfig is TransferConfig and 'torch' not in sys.modules\n"
            "assert cfg.style_layers[0] == ('relu1_1', 0.2) and pickle.loads(pickle.dumps(cfg)) == cfg\n"
            "import stylegram.transfer, stylegram.losses, stylegram.optimize\n"
            "assert sys.modules['stylegram.transfer'].TransferConfig is TransferConfig\n"
            "assert stylegram.optimize.OPTIMIZERS == ('lbfgs', 'adam', 'gd') and "
            "stylegram.losses.parse_layer_weights('relu1_1:0.5') == {'relu1_1': 0.5}\n")
    assert loaded_after("import sys\n" + code)["torch"] is True


def test_option_errors_of_transfer_and_texture_import_no_torch(tmp_path):
    # The options are checked (TransferConfig.validated, torch-free) before the engine is imported.
    code = ("import contextlib, io, sys\nfrom stylegram.cli import main\n"
            "for args in (['transfer', 'a.jpg', 'b.jpg', '-o', 'o.png', '--beta', 'nan'],\n"
            "             ['texture', 'b.jpg', '-o', 'o.png', '--style-scale', '99']):\n"
            "    err = io.StringIO()\n"
            "    with contextlib.redirect_stderr(err):\n"
            "        try:\n            main(args)\n        except SystemExit as e:\n            code = e.code\n"
            "    print(code, err.getvalue().strip())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", code + "print('torch' in sys.modules)"], capture_output=True,
                       text=True, env=env, cwd=tmp_path)
    assert p.stdout.splitlines() == ["2 stylegram: error: beta nan: must be a finite number, 0 or more",
                                     "2 stylegram: error: style_scale 99.0: must be between 0.05 and 8", "False"], p.stderr


def test_import_stylegram_imports_no_torch():
    assert loaded_after("import stylegram, stylegram.explore") == {"torch": False, "torch._dynamo": False}


def test_api_and_transfer_help_import_no_dynamo():
    # Every API name loaded (the engine: torch), then transfer's help: not torch._dynamo, which a
    # decorator in objective.py used to import (only a compiled run needs it).
    code = ("import stylegram, stylegram.explore\n"
            "for m in (stylegram, stylegram.explore):\n"
            "    [getattr(m, n) for n in m.__all__]\n"
            "from click.testing import CliRunner\nfrom stylegram.cli import cli\n"
            "r = CliRunner().invoke(cli, ['transfer', '--help'])\n"
            "assert r.exit_code == 0 and '--preset' in r.output, r.output\n")
    assert loaded_after(code) == {"torch": True, "torch._dynamo": False}


def test_functions_named_as_their_modules_stay_the_functions():
    # stylegram.transfer is the function even when the module stylegram.transfer was imported
    # first (the import system binds a submodule to its package's attribute).
    code = ("import inspect, stylegram.cli, stylegram.texture, stylegram.explore.reconstruct\n"
            "import stylegram, stylegram.explore\n"
            "assert all(inspect.isfunction(f) for f in (stylegram.transfer, stylegram.texture, "
            "stylegram.explore.reconstruct)), (stylegram.transfer, stylegram.texture)\n"
            "from stylegram import transfer, texture\n"
            "assert transfer is sys.modules['stylegram.transfer'].transfer and texture is stylegram.texture\n"
            "assert set(stylegram.__all__) <= set(dir(stylegram))\n")
    loaded_after("import sys\n" + code)


def test_submodules_are_attributes_as_before():
    # The eager imports had made the submodules attributes: `import stylegram` was enough for
    # stylegram.losses.gram or stylegram.explore.HookedNet (README).
    code = ("import stylegram\n"
            "assert stylegram.explore.HookedNet is stylegram.HookedNet and stylegram.losses.gram is stylegram.gram\n"
            "assert stylegram.io.load_image is stylegram.load_image\n"
            "for bad in ('nope', '_nope', 'losses.gram', 'nope.x', 'a-b', ''):\n"
            "    assert not hasattr(stylegram, bad) and getattr(stylegram.explore, bad, None) is None, bad\n")
    loaded_after(code)


def test_media_cli_imports_first_without_torch():
    # imported before stylegram.cli (a test of one media command's --help), it was an AttributeError:
    # cli, imported from media_cli's top, added media_cli's commands before they were defined
    code = ("from stylegram.media_cli import signal_texture_cmd\nfrom stylegram.cli import cli\n"
            "assert cli.commands['signal-texture'] is signal_texture_cmd\n")
    assert loaded_after(code) == {"torch": False, "torch._dynamo": False}
