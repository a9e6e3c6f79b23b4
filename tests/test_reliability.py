"Encoder files from another preset name the shapes; files that would run code are refused by every loader; the same seed gives the same result. (Impossible data, label and model settings: tested in the 00_data, 01_models and 04_learner chapters; divergence: 03_callback.)"
import pickle
from pathlib import Path
import pytest, torch
from fastai.vision.all import untar_data, URLs, get_image_files, set_seed
from fastai_cpc.all import (cpc_dls, cpc_learner, cpc_classifier, label_subset, labelled_dls, save_encoder, load_encoder,
                            Checkpoint, load_checkpoint, cpc_encoder)

@pytest.fixture(scope='module')
def files(): return get_image_files(untar_data(URLs.IMAGENETTE_160)/'train')[::50]

@pytest.fixture(scope='module')
def dls(files): return cpc_dls(files[:64], size=16, patch_size=4, bs=8, num_workers=0)

def test_encoder_from_another_preset_names_the_shapes(tmp_path):
    fn = save_encoder(cpc_encoder('small'), tmp_path/'small.pth')
    with pytest.raises(ValueError, match=r"(?s)preset 'small'.*tensors differ.*file \(64, 3, 3, 3\) vs encoder \(32, 3, 3, 3\)"):
        load_encoder(fn, cpc_encoder('tiny'))

def test_not_a_checkpoint(tmp_path):
    (tmp_path/'x.pth').write_text('hello')
    with pytest.raises(ValueError, match='not a fastai_cpc encoder file'): load_encoder(tmp_path/'x.pth')

class _Payload:
    def __reduce__(self): return (exec, ("import pathlib; pathlib.Path('/tmp/fastai_cpc_payload_ran').touch()",))

def test_pickle_payloads_are_refused(tmp_path, dls):
    flag = Path('/tmp/fastai_cpc_payload_ran'); flag.unlink(missing_ok=True)
    evil = tmp_path/'encoder.pth'
    evil.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(ValueError, match='not a fastai_cpc encoder file'): load_encoder(evil)  # only safetensors: never unpickled
    with pytest.raises(ValueError, match='refused'): load_checkpoint(cpc_learner(dls, 'tiny', n_dirs=1, context_blocks=1), evil)
    with pytest.raises(ValueError, match='not a fastai_cpc encoder file'): cpc_classifier(labelled_dls(dls.train.items[:8], dls.train.items[:8], size=16, bs=4), evil)
    assert not flag.exists(), 'the payload ran'

def test_same_seed_same_subset_and_accuracy(files):
    def run():
        trn = label_subset(files, frac=0.2, seed=5)
        set_seed(5)
        dls = labelled_dls(trn, files[::5], size=16, bs=8, num_workers=0)
        learn = cpc_classifier(dls, 'tiny', patch_size=4)
        with learn.no_bar(), learn.no_logging(): learn.fine_tune(1, 1e-3)
        return list(trn), [float(v) for v in learn.recorder.values[-1]]   # train loss, valid loss, accuracy of the last epoch
    a, b = run(), run()
    assert a[0] == b[0]
    assert a[1][2] == b[1][2] and a[1][:2] == pytest.approx(b[1][:2], rel=1e-6)
