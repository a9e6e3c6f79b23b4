"End-to-end tests of the `fastai-cpc` command on real Imagenette images (seeded into $FASTAI_HOME by tools/setup.sh)."
import re, subprocess, sys
from pathlib import Path
import pytest
import fastai_cpc.cli as cli
import fastai_cpc.recipes as recipes
from fastai_cpc.files import load_encoder
from fastai_cpc.test_utils import synth_images

CMD = [str(Path(sys.executable).parent/'fastai-cpc')]

def run(*args, **kw):
    return subprocess.run(CMD + list(args), capture_output=True, text=True, timeout=900, **kw)

def test_cli_cpu_run_size_end_to_end(tmp_path):
    r = run('--data', 'imagenette', '--run-size', 'cpu', '--n-train', '128', '--n-valid', '100', '--epochs', '1',
            '--ft-epochs', '1', '--frac', '0.01', '--bs', '16', '--num-workers', '0', '--out', str(tmp_path), '--semi', 'fixmatch', '--n-held-out', '5', '--max-ft-mult', '2')
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [l for l in r.stdout.splitlines() if l.startswith('| CPC') or l.startswith('| from scratch')]
    assert len(rows) == 3 and rows[2].startswith('| CPC + FixMatch'), r.stdout[-3000:]
    for row in rows:
        acc = float(row.split('|')[4])
        assert 0 <= acc <= 1
        assert re.search(r'\| \d+ \(1%\) \|', row)          # the same labelled subset size on both rows
    enc = load_encoder(next(tmp_path.glob('*.safetensors')))
    assert enc.arch == 'tiny' and enc.patch_size == 8
    # output to a pipe: no progress bars, one line per epoch under a header, and a verdict at the end
    assert '\r' not in r.stdout and '█' not in r.stdout
    heads = [l for l in r.stdout.splitlines() if l.split()[:2] == ['epoch', 'train_loss']]
    assert len(heads) == 1  # pre-training's; each classifier's trials are one line each
    assert re.search(r'^0 +\d+\.\d+', r.stdout, re.M) and 'pre-train `tiny` on 128 images' in r.stdout and 'trained for 2, 4, 8, ... epochs (at most 4)' in r.stdout
    for name in ('CPC pre-trained', 'from scratch', 'CPC + FixMatch'):  # the held-out images decide how long each trains, the same rule for all
        trials = [int(m) for m in re.findall(rf'^{re.escape(name)}: (\d+) epochs, 0\.\d+ on the held-out images', r.stdout, re.M)]
        assert trials[0] == 2 and all(b == 2 * a for a, b in zip(trials, trials[1:])) and trials[-1] <= 4, trials
    assert re.search(r'(ahead|behind|no clear winner).* FixMatch (adds|loses)', r.stdout.split('\nencoder: ')[0].splitlines()[-1])
    assert f"classifier (CPC pre-trained): {tmp_path/'cpc_classifier.pkl'}" in r.stdout and (tmp_path/'cpc_classifier.pkl').exists()

def test_pretrain_finetune_predict_chain(tmp_path):
    "The user's path through the command line alone: pre-train on a folder, fine-tune that encoder on labels, classify new images"
    from fastai_cpc.test_utils import synth_image_folder
    data = synth_image_folder(tmp_path/'data', n_train=20, n_valid=6, classes=3, size=32)
    r = run('pretrain', '--data', str(data/'train'), '--epochs', '2', '--bs', '8', '--num-workers', '0', '--out', str(tmp_path/'m'), '--run-size', 'cpu',
            '--probe', str(data))
    assert r.returncode == 0, r.stderr[-3000:]
    enc = tmp_path/'m'/'cpc-encoder.safetensors'
    assert f"encoder: {enc}" in r.stdout
    head = next(l for l in r.stdout.splitlines() if l.startswith('epoch'))
    assert head.split()[-2:] == ['knn_probe', 'time']  # the probe's column in the epoch lines
    knn = [float(l.split()[-2]) for l in r.stdout.splitlines() if re.match(r'^[01] ', l)]
    assert len(knn) == 2 and all(0 <= a <= 1 for a in knn)
    r = run('finetune', '--encoder', str(enc), '--data', str(data), '--frac', '0.5', '--ft-epochs', '1', '--max-ft-mult', '1', '--n-held-out', '2',
            '--bs', '8', '--num-workers', '0', '--out', str(tmp_path/'m'), '--run-size', 'cpu')
    assert r.returncode == 0, r.stderr[-3000:]
    clf = tmp_path/'m'/'classifier.pkl'
    assert clf.exists() and f"classifier: {clf}" in r.stdout and re.search(r'validation accuracy [01]\.\d{4} on 18 images \(27 labelled', r.stdout)
    r = run('predict', str(clf), str(data/'val'), '--csv')
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert lines[0] == 'file,class,probability' and len(lines) == 1 + 18
    assert all(re.fullmatch(r'".+\.png",c[012],[01]\.\d{4}', l) for l in lines[1:])
    r = run('predict', str(clf), str(tmp_path/'nowhere'))
    assert r.returncode == 2 and 'no image or folder at' in r.stderr
    r = run('finetune', '--data', str(data))
    assert r.returncode == 2 and '--encoder is required' in r.stderr
    r = run('pretrain', '--data', str(data/'train'), '--probe', str(tmp_path/'nowhere'))
    assert r.returncode == 2 and 'no such folder' in r.stderr

@pytest.mark.parametrize('layout, msg', [
    ({'train/a': 8, 'train/b': 8}, 'no validation folder'),
    ({'train': 8, 'val': 4}, 'no class sub-folders'),
    ({'train/a': 8, 'val/a': 4}, "only the class 'a'"),
    ({'.': 8}, 'has no train/ folder'),  # a flat folder of images: pre-training alone works on it
])
def test_cli_bad_folders_fail_before_training(tmp_path, layout, msg):
    for sub, n in layout.items(): synth_images(tmp_path/'data'/sub, n, size=24)
    r = run('--data', str(tmp_path/'data'), '--run-size', 'cpu', '--num-workers', '0', '--out', str(tmp_path/'out'))
    assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'out').exists() and 'epoch' not in r.stdout  # nothing trained, nothing written
    if 'class' in msg or 'train/' in msg: assert 'fastai-cpc pretrain --data' in r.stderr  # what to do instead

def test_pretrain_on_a_flat_folder_of_images(tmp_path):
    synth_images(tmp_path/'pics', 40, size=24)
    r = run('pretrain', '--data', str(tmp_path/'pics'), '--run-size', 'cpu', '--size', '16', '--patch-size', '4', '--n-train', '0',
            '--epochs', '1', '--bs', '8', '--num-workers', '0', '--out', str(tmp_path/'out'), '--debug')
    assert r.returncode == 0, r.stderr[-3000:]
    assert load_encoder(tmp_path/'out'/'cpc-encoder.safetensors').patch_size == 4

def test_help_and_default_run_size(capsys):
    r = run('--help')
    text = ' '.join(r.stdout.split()).replace('- ', '-')  # argparse wraps lines, also at hyphens
    assert r.returncode == 0 and 'fastai-cpc pretrain --help' in text and '--debug' in r.stdout  # the other command is named
    r = run('--data', '/no/such/folder', '--debug')  # --debug is a flag here too: the traceback, not the one line
    assert r.returncode != 0 and 'Traceback' in r.stderr
    import torch
    if not torch.cuda.is_available():
        cfg = cli._settings('fastai-cpc', 'here', Path('here'), None, dict(epochs=3, n_train=0, frac=0.5))
        assert cfg == cli.run_sizes['cpu'].settings(epochs=3, n_train=None)  # the options given, over the run size that fits
        assert "run size cpu (no run size given: no GPU is visible; --run-size gpu for the other)" in capsys.readouterr().out

@pytest.mark.parametrize('args, msg', [
    (['--data', '/no/such/folder'], 'no such folder'),
    (['--frac', '0'], '(0, 1]'),
    (['--frac', '1.5'], '(0, 1]'),
    (['--run-size', 'tpu'], "unknown run size 'tpu'"),
    (['--arch', 'resnet9000', '--n-train', '64', '--epochs', '1'], "unknown encoder preset 'resnet9000'"),
    (['--size', '32', '--patch-size', '64'], 'larger than the image'),
    (['--semi', 'fixmatch', '--n-train', '20', '--mu', '7', '--epochs', '1'], '--semi needs at least mu * bs'),
    (['--semi', 'mixmatch'], '--semi must be one of fixmatch, distill'),
])
def test_cli_user_errors_are_one_line(args, msg):
    r = run('--run-size', 'cpu', '--num-workers', '0', *args)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith('fastai-cpc: error:') and msg in err[-1], r.stderr[-2000:]
    assert 'Traceback' not in r.stderr

def test_missing_dataset_that_cannot_be_downloaded(monkeypatch):
    def offline(url, *a, **k): raise ConnectionError('no network')
    monkeypatch.setattr(recipes, 'untar_data', offline)  # where `resolve_data` lives
    with pytest.raises(cli.UserError, match=r"could not be downloaded \(ConnectionError\).*--data PATH"):
        cli.resolve_data('imagewoof')

def test_pretrain_with_images_on_the_device(tmp_path):
    r = run('pretrain', '--data', 'imagenette', '--run-size', 'cpu', '--on-device', 'true', '--n-train', '96', '--epochs', '1',
            '--bs', '16', '--out', str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    enc = load_encoder(tmp_path/'cpc-encoder.safetensors')
    assert enc.arch == 'tiny' and enc.patch_size == 8
