"End-to-end tests of the `fastai-cpc` command on real Imagenette images (seeded into $FASTAI_HOME by tools/setup.sh)."
import re, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
import fastai_cpc.cli as cli
from fastai_cpc.files import load_encoder

CMD = [str(Path(sys.executable).parent/'fastai-cpc')]

def run(*args, **kw):
    return subprocess.run(CMD + list(args), capture_output=True, text=True, timeout=900, **kw)

def test_cli_cpu_preset_end_to_end(tmp_path):
    r = run('--data', 'imagenette', '--preset', 'cpu', '--n-train', '128', '--n-valid', '100', '--epochs', '1',
            '--ft-epochs', '1', '--frac', '0.01', '--bs', '16', '--num-workers', '0', '--out', str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [l for l in r.stdout.splitlines() if l.startswith('| CPC') or l.startswith('| from scratch')]
    assert len(rows) == 2, r.stdout[-3000:]
    for row in rows:
        acc = float(row.split('|')[4])
        assert 0 <= acc <= 1
        assert re.search(r'\| \d+ \(1%\) \|', row)          # the same labelled subset size on both rows
    enc = load_encoder(next(tmp_path.glob('*.safetensors')))
    assert enc.arch == 'tiny' and enc.patch_size == 8
    # output to a pipe: no progress bars, one line per epoch under a header, and a verdict at the end
    assert '\r' not in r.stdout and '█' not in r.stdout
    heads = [l for l in r.stdout.splitlines() if l.split()[:2] == ['epoch', 'train_loss']]
    assert len(heads) == 4  # pre-training, the head-only epoch, the unfrozen epochs, scratch
    assert re.search(r'^0 +\d+\.\d+', r.stdout, re.M) and 'pre-train `tiny` on 128 images' in r.stdout and '2 epochs at lr' in r.stdout
    assert re.search(r'(ahead|behind|no clear winner)', r.stdout.splitlines()[-1])

def _images(folder:Path, n:int, size=24, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n): Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder/f'{i}.png')

@pytest.mark.parametrize('layout, msg', [
    ({'train/a': 8, 'train/b': 8}, 'no validation folder'),
    ({'train': 8, 'val': 4}, 'no class sub-folders'),
    ({'train/a': 8, 'val/a': 4}, "only the class 'a'"),
    ({'.': 8}, 'has no train/ folder'),  # a flat folder of images: pre-training alone works on it
])
def test_cli_bad_folders_fail_before_training(tmp_path, layout, msg):
    for sub, n in layout.items(): _images(tmp_path/'data'/sub, n)
    t = time.time()
    r = run('--data', str(tmp_path/'data'), '--preset', 'cpu', '--num-workers', '0', '--out', str(tmp_path/'out'))
    assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'out').exists() and 'epoch' not in r.stdout  # nothing trained, nothing written
    if 'class' in msg or 'train/' in msg: assert 'fastai-cpc pretrain --data' in r.stderr  # what to do instead

def test_pretrain_on_a_flat_folder_of_images(tmp_path):
    _images(tmp_path/'pics', 40)
    r = run('pretrain', '--data', str(tmp_path/'pics'), '--preset', 'cpu', '--size', '16', '--patch-size', '4', '--n-train', '0',
            '--epochs', '1', '--bs', '8', '--num-workers', '0', '--out', str(tmp_path/'out'), '--debug')
    assert r.returncode == 0, r.stderr[-3000:]
    assert load_encoder(tmp_path/'out'/'cpc-encoder.safetensors').patch_size == 4

def test_help_and_default_preset(capsys):
    r = run('--help')
    text = ' '.join(r.stdout.split()).replace('- ', '-')  # argparse wraps lines, also at hyphens
    assert r.returncode == 0 and 'fastai-cpc pretrain --help' in text and '--debug' in r.stdout  # the other command is named
    r = run('--data', '/no/such/folder', '--debug')  # --debug is a flag here too: the traceback, not the one line
    assert r.returncode != 0 and 'Traceback' in r.stderr
    import torch
    if not torch.cuda.is_available():
        cfg = cli._settings('fastai-cpc', 'here', Path('here'), None, dict(epochs=3, n_train=0, frac=0.5))
        assert cfg == {**cli.presets['cpu'], 'epochs': 3, 'n_train': None}  # the options given, over the preset that fits
        assert "preset cpu (no preset given: no GPU is visible; --preset gpu for the other)" in capsys.readouterr().out

@pytest.mark.parametrize('args, msg', [
    (['--data', '/no/such/folder'], 'no such folder'),
    (['--frac', '0'], '(0, 1]'),
    (['--frac', '1.5'], '(0, 1]'),
    (['--preset', 'tpu'], "unknown preset 'tpu'"),
    (['--arch', 'resnet9000', '--n-train', '64', '--epochs', '1'], "unknown encoder preset 'resnet9000'"),
    (['--size', '32', '--patch-size', '64'], 'larger than the image'),
])
def test_cli_user_errors_are_one_line(args, msg):
    r = run('--preset', 'cpu', '--num-workers', '0', *args)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith('fastai-cpc: error:') and msg in err[-1], r.stderr[-2000:]
    assert 'Traceback' not in r.stderr

def test_missing_dataset_that_cannot_be_downloaded(monkeypatch):
    def offline(url, *a, **k): raise ConnectionError('no network')
    monkeypatch.setattr(cli, 'untar_data', offline)
    with pytest.raises(cli.UserError, match=r"could not be downloaded \(ConnectionError\).*--data PATH"):
        cli.resolve_data('imagewoof')

def test_pretrain_with_images_on_the_device(tmp_path):
    r = run('pretrain', '--data', 'imagenette', '--preset', 'cpu', '--on-device', 'true', '--n-train', '96', '--epochs', '1',
            '--bs', '16', '--out', str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    enc = load_encoder(tmp_path/'cpc-encoder.safetensors')
    assert enc.arch == 'tiny' and enc.patch_size == 8
