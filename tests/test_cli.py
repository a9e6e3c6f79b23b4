"End-to-end tests of the `fastai-cpc` command on real Imagenette images (seeded into $FASTAI_HOME by tools/setup.sh)."
import re, subprocess, sys
from pathlib import Path
import pytest
import fastai_cpc.cli as cli
from fastai_cpc.learner import load_encoder

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
    enc = load_encoder(next(tmp_path.glob('*.pth')))
    assert enc.arch == 'tiny' and enc.patch_size == 8

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
    enc = load_encoder(tmp_path/'cpc-encoder.pth')
    assert enc.arch == 'tiny' and enc.patch_size == 8
