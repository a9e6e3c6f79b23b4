"Folders of real-world images: odd modes are used, undecodable files are skipped with one warning, hopeless folders fail early."
import subprocess, sys, warnings
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from fastai.vision.all import untar_data, URLs, get_image_files
from fastai_cpc.data import cpc_dls
from fastai_cpc.images import check_images, RGBImage
from fastai_cpc.labels import subset_dls, label_subset

def _photo(): return Image.open(get_image_files(untar_data(URLs.IMAGENETTE_160)/'train')[0]).convert('RGB')

GOOD = {  # name -> how to write it: every one of these must be used
    'grey.png': lambda p: _photo().convert('L').save(p),
    'rgba.png': lambda p: _photo().convert('RGBA').save(p),
    'cmyk.jpg': lambda p: _photo().convert('CMYK').save(p),
    'palette.png': lambda p: _photo().convert('P').save(p),
    'sixteen.png': lambda p: Image.fromarray((np.asarray(_photo().convert('L'), dtype=np.uint16) * 257)).save(p),
    'tiny.jpg': lambda p: _photo().resize((4, 4)).save(p),
    'large.jpg': lambda p: _photo().resize((3000, 2000)).save(p),
    'elongated.png': lambda p: _photo().resize((1000, 10)).save(p),
    'plain.jpg': lambda p: _photo().save(p),
}
BAD = {
    'truncated.jpg': lambda p: p.write_bytes(Path(get_image_files(untar_data(URLs.IMAGENETTE_160)/'train')[0]).read_bytes()[:3000]),
    'empty.jpg': lambda p: p.write_bytes(b''),
    'text.jpg': lambda p: p.write_text('not an image'),
}
IGNORED = {'.hidden.jpg': lambda p: _photo().save(p, 'JPEG'), 'notes.txt': lambda p: p.write_text('hello')}

@pytest.fixture
def messy(tmp_path):
    for cls in ('a', 'b'):
        for split in ('train', 'val'):
            d = tmp_path/split/cls; d.mkdir(parents=True)
            for name, make in {**GOOD, **BAD, **IGNORED}.items(): make(d/name)
    return tmp_path

def test_check_images_keeps_every_decodable_file(messy):
    files = get_image_files(messy/'train'/'a')
    with pytest.warns(UserWarning, match=r'skipping 3 of \d+ files') as rec:
        good = check_images(files)
    assert sorted(Path(f).name for f in good) == sorted(GOOD)   # fastai's get_image_files already leaves hidden files out
    assert len(rec) == 1 and all(n in str(rec[0].message) for n in BAD)

def test_sixteen_bit_is_rescaled_not_clipped(messy):
    im = RGBImage.create(messy/'train'/'a'/'sixteen.png')
    ref = np.asarray(_photo().convert('L'), dtype=np.float32)
    got = np.asarray(im, dtype=np.float32)[..., 0]
    assert im.mode == 'RGB' and abs(got.mean() - ref.mean()) < 2

def test_cpc_dls_on_a_messy_folder(messy):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        dls = cpc_dls(messy/'train', size=32, patch_size=8, bs=4, valid_pct=0.2, num_workers=0)
    msgs = [str(w.message) for w in rec if 'cannot be decoded' in str(w.message)]
    assert len(msgs) == 1 and 'skipping 6 of' in msgs[0]
    assert len(dls.train_ds) + len(dls.valid_ds) == 2 * len(GOOD)     # every good image, no hidden or non-image file
    for xb, in dls.train: assert xb.shape[1:] == (7, 7, 3, 8, 8)      # every image decodes in the loader

def test_subset_dls_on_a_messy_folder(messy):
    with pytest.warns(UserWarning, match='cannot be decoded'):
        dls = subset_dls(messy, frac=1., size=32, bs=4, num_workers=0)
    assert len(dls.train_ds) == 2 * len(GOOD) and dls.c == 2
    for xb, yb in dls.valid: assert xb.shape[1:] == (3, 32, 32)

def test_hopeless_folders_fail_before_training(tmp_path):
    (tmp_path/'empty').mkdir()
    with pytest.raises(ValueError, match='no image files found'): cpc_dls(tmp_path/'empty')
    bad = tmp_path/'bad'; bad.mkdir()
    for name, make in BAD.items(): make(bad/name)
    with pytest.raises(ValueError, match='none of the 3 files could be decoded'): cpc_dls(bad)
    one = tmp_path/'one'/'train'/'only'; one.mkdir(parents=True)
    GOOD['plain.jpg'](one/'x.jpg'); GOOD['grey.png'](one/'y.png')
    with pytest.raises(ValueError, match='at least two classes'): label_subset(get_image_files(tmp_path/'one'/'train'), frac=1.)

def test_cli_reports_a_hopeless_folder_in_one_line(tmp_path):
    d = tmp_path/'train'/'c'; d.mkdir(parents=True)
    for name, make in BAD.items(): make(d/name)
    r = subprocess.run([str(Path(sys.executable).parent/'fastai-cpc'), 'pretrain', '--data', str(tmp_path), '--run-size', 'cpu'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith('fastai-cpc: error: none of the 3 files could be decoded')
