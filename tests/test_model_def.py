"""--model-def FILE.py:FUNC: the user's code builds the subject; every bad file is one line."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from user_models import PTDiscriminator, PTGenerator, seeded  # noqa: E402

from gan_viz.checkpoint import load_subject  # noqa: E402
from gan_viz.errors import UserError  # noqa: E402
from gan_viz.subject import file_sha256  # noqa: E402

TESTS = Path(__file__).resolve().parent

# the file the README shows for a whole pickled generator (and the --ckpt refusal quotes)
README_FILE = '''import torch
def build():
    return {"G": torch.load("netG.pth", weights_only=False), "nz": 100}
'''


def test_the_readme_three_line_file_opens_a_pickled_module(tmp_path, monkeypatch, cli):
    G = seeded(PTGenerator(nz=100))
    torch.save(G, tmp_path / "netG.pth")
    (tmp_path / "mymodel.py").write_text(README_FILE)
    assert len(README_FILE.splitlines()) == 3
    monkeypatch.chdir(tmp_path)
    S = load_subject(model_def="mymodel.py:build")
    assert S.provenance.format == "model-def" and S.provenance.sha256 == file_sha256(tmp_path / "mymodel.py")
    assert S.nz == 100 and S.D is None and S.image_shape == (3, 32, 32)
    z = S.sample_z(3, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(S.images(z), G(z[:, :, None, None]), atol=1e-6)
    code, out, err = cli("generate", "--model-def", "mymodel.py:build", "--n", "2", "--out", tmp_path / "o")
    assert code == 0, err
    assert (tmp_path / "o" / "images.npy").exists()


def test_dict_with_both_networks_and_options(tmp_path):
    (tmp_path / "pair.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from user_models import PTGenerator, PTDiscriminator, seeded\n"
        "def build(ckpt):  # takes one argument: it gets the --ckpt path\n"
        "    assert ckpt.endswith('w.pt'), ckpt\n"
        "    return {'G': seeded(PTGenerator(nz=16), 0), 'D': seeded(PTDiscriminator(), 1), 'nz': 16,\n"
        "            'z_dist': 'uniform', 'dataset': 'faces'}\n")
    (tmp_path / "w.pt").write_bytes(b"anything")
    S = load_subject(tmp_path / "w.pt", model_def=f"{tmp_path / 'pair.py'}:build")
    assert S.z_dist == "uniform" and S.domain == "faces" and S.provenance.path == str(tmp_path / "w.pt")
    assert S.provenance.sha256 == file_sha256(tmp_path / "w.pt")
    G, D = seeded(PTGenerator(nz=16), 0), seeded(PTDiscriminator(), 1)
    z = S.sample_z(4, torch.Generator().manual_seed(1))
    assert z.min() >= -1 and z.max() <= 1
    with torch.no_grad():
        x = G(z[:, :, None, None])
        assert torch.allclose(S.images(z), x, atol=1e-6) and torch.allclose(S.D(x), D(x), atol=1e-6)


BODIES = {  # case: (FILE.py contents, FUNC, what the one line must say)
    "missing_func": ("def other():\n    return {}\n", "build", "has no function 'build'; it defines other"),
    "not_callable": ("build = 3\n", "build", "'build' is not a function (it is int 3)"),
    "raises": ("def build():\n    raise FileNotFoundError('netG.pth is not here')\n", "build",
               "raised FileNotFoundError: netG.pth is not here"),
    "exits": ("import sys\ndef build():\n    sys.exit(3)\n", "build", "called exit(3)"),
    "import_error": ("import no_such_module_xyz\ndef build():\n    pass\n", "build",
                     "raised ModuleNotFoundError while importing"),
    "syntax": ("def build(:\n", "build", "has a syntax error at line 1"),
    "returns_none": ("def build():\n    pass\n", "build", "returned None (no return statement?)"),
    "returns_list": ("def build():\n    return [1, 2]\n", "build", "returned list [1, 2]; it must return a Subject or a dict"),
    "returns_module": ("import torch\ndef build():\n    return torch.nn.Linear(2, 2)\n", "build",
                       "returned a bare Linear module"),
    "state_dict_as_G": ("import torch\ndef build():\n    return {'G': torch.nn.Linear(2, 2).state_dict(), 'nz': 2}\n",
                        "build", "returned G as a OrderedDict (keys weight, bias), not a torch.nn.Module"),
    "D_not_module": ("def build():\n    return {'D': 'netD.pth'}\n", "build", "returned D as str 'netD.pth'; it must be a torch.nn.Module"),
    "no_nz": ("import torch\ndef build():\n    return {'G': torch.nn.Linear(2, 2)}\n", "build",
              "returned a generator but no 'nz'"),
    "bad_nz": ("import torch\ndef build():\n    return {'G': torch.nn.Linear(2, 2), 'nz': '2'}\n", "build",
               "returned nz='2'; it must be a positive integer"),
    "bad_z_dist": ("import torch\ndef build():\n    return {'G': torch.nn.Linear(2, 2), 'nz': 2, 'z_dist': 'gauss'}\n",
                   "build", "returned z_dist='gauss'; choose one of"),
    "unknown_key": ("import torch\ndef build():\n    return {'G': torch.nn.Linear(2, 2), 'nz': 2, 'netG': 1}\n",
                    "build", "returned unknown keys ['netG']"),
    "nothing": ("def build():\n    return {'nz': 4}\n", "build", "returned neither 'G' nor 'D'"),
    "wrong_nz_for_G": ("import sys\n"
                       f"sys.path.insert(0, {str(TESTS)!r})\n"
                       "from user_models import PTGenerator\n"
                       "def build():\n    return {'G': PTGenerator(nz=16), 'nz': 100}\n", "build",
                       "the generator failed on z of shape (2, 100)"),
}


@pytest.mark.parametrize("case", sorted(BODIES) + ["missing_file", "no_colon"])
def test_bad_model_defs_one_line_exit_2(tmp_path, case, cli):
    if case == "missing_file":
        spec, expect = f"{tmp_path / 'nope.py'}:build", "file " + str(tmp_path / "nope.py") + " does not exist"
    elif case == "no_colon":
        spec, expect = str(tmp_path / "m.py"), "must be FILE.py:FUNC"
    else:
        body, func, expect = BODIES[case]
        (tmp_path / "m.py").write_text(body)
        spec = f"{tmp_path / 'm.py'}:{func}"
    with pytest.raises(UserError) as e:
        load_subject(model_def=spec)
    assert expect in str(e.value), str(e.value)
    assert "--model-def" in str(e.value)
    code, out, err = cli("generate", "--model-def", spec, "--n", "2", "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and expect in err, err
    assert not (tmp_path / "out").exists(), "nothing written on bad input"


def test_user_folder_not_left_on_sys_path(tmp_path):
    (tmp_path / "m.py").write_text("def build():\n    raise ValueError('x')\n")
    before = list(sys.path)
    with pytest.raises(UserError):
        load_subject(model_def=f"{tmp_path / 'm.py'}:build")
    assert sys.path == before
