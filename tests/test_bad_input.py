"""Bad input is refused before any work, with a message that names the value and says what it should be: one table of bad calls
per family of functions, each with words the error must contain."""
import re, tempfile
from pathlib import Path
import pytest
from fastai.vision.all import get_image_files, parent_label
from fastai_cpc.all import (cpc_dls, labelled_dls, label_subset, PatchAugment, grid_size, cpc_learner, FixMatch, unlabelled_dl, cpc_classifier,
                            knn_accuracy, linear_probe, KNNProbe, converge, peer_dls, peer_backbone, cpc_encoder, save_encoder, load_encoder)
import fastai_cpc.cli as cli
from fastai_cpc.test_utils import synth_image_folder

@pytest.fixture(scope='module')
def data():
    path = synth_image_folder(Path(tempfile.mkdtemp()), n_train=8, classes=2)
    items = get_image_files(path/'train')
    return path, items, labelled_dls(items, items, size=32, bs=4, num_workers=0), cpc_dls(items, size=32, patch_size=8, bs=4, num_workers=0)

data_calls = {  # the data: images, patches, subsets
    'cpc_dls bs=0': (lambda p, i, l, d: cpc_dls(i, size=32, patch_size=8, bs=0), 'bs must be at least 1'),
    'cpc_dls on the device, bs=-1': (lambda p, i, l, d: cpc_dls(i, size=32, patch_size=8, bs=-1, on_device=True), 'bs must be at least 1'),
    'cpc_dls size=-32': (lambda p, i, l, d: cpc_dls(i, size=-32, patch_size=8, bs=4), 'size must be a positive number of pixels, got -32'),
    'cpc_dls patch_size=3': (lambda p, i, l, d: cpc_dls(i, size=32, patch_size=3, bs=4), 'even number of pixels'),
    'cpc_dls valid_pct=1.5': (lambda p, i, l, d: cpc_dls(i, size=32, patch_size=8, bs=4, valid_pct=1.5), 'valid_pct must be in [0, 1)'),
    'cpc_dls min_scale=0': (lambda p, i, l, d: cpc_dls(i, size=32, patch_size=8, bs=4, min_scale=0), 'min_scale must be in (0, 1]'),
    'labelled_dls bs=0': (lambda p, i, l, d: labelled_dls(i, i, size=32, bs=0), 'bs must be at least 1'),
    'labelled_dls size=-1': (lambda p, i, l, d: labelled_dls(i, i, size=-1, bs=4), 'size must be a positive'),
    'labelled_dls min_scale=2': (lambda p, i, l, d: labelled_dls(i, i, size=32, bs=4, min_scale=2), 'min_scale must be in (0, 1]'),
    'label_subset frac=1.5': (lambda p, i, l, d: label_subset(i, frac=1.5), 'must be in (0, 1]'),
    'label_subset n_per_class=0': (lambda p, i, l, d: label_subset(i, n_per_class=0), 'n_per_class must be at least 1'),
    'PatchAugment p_drop=2': (lambda p, i, l, d: PatchAugment(p_drop=2), 'p_drop must be a probability'),
    'PatchAugment jitter=-1': (lambda p, i, l, d: PatchAugment(jitter=-1), 'jitter must be a strength in [0, 1)'),
    'grid_size size=-32': (lambda p, i, l, d: grid_size(-32, 8), 'size must be a positive number of pixels'),
}
model_calls = {  # the model, the loss, the learner
    'n_dirs=0': (lambda p, i, l, d: cpc_learner(d, n_dirs=0), 'n_dirs must be 1, 2, 3 or 4'),
    'target_dim=0': (lambda p, i, l, d: cpc_learner(d, target_dim=0), 'target_dim must be at least 1'),
    'context_blocks=-1': (lambda p, i, l, d: cpc_learner(d, context_blocks=-1), 'context_blocks must be 0 or more'),
    'context_dim=0': (lambda p, i, l, d: cpc_learner(d, context_dim=0), 'context_dim must be at least 1'),
    'scale=0': (lambda p, i, l, d: cpc_learner(d, scale=0), 'scale must be positive'),
    'temperature=0': (lambda p, i, l, d: cpc_learner(d, temperature=0), 'temperature must be positive'),
    'chunk=0': (lambda p, i, l, d: cpc_learner(d, chunk=0), 'chunk must be a positive'),
    'arch=nope': (lambda p, i, l, d: cpc_learner(d, arch='nope'), "unknown encoder preset 'nope'"),
    'offsets=(0,)': (lambda p, i, l, d: cpc_learner(d, offsets=(0,)), 'offsets must be positive'),
}
finetune_calls = {  # classifiers, probes, FixMatch, convergence, peers
    'FixMatch threshold=1.5': (lambda p, i, l, d: FixMatch(unlabelled_dl(i, l, mu=1), threshold=1.5), 'no pseudo-label ever passes'),
    'FixMatch threshold=-0.1': (lambda p, i, l, d: FixMatch(unlabelled_dl(i, l, mu=1), threshold=-0.1), 'threshold must be a confidence in [0, 1]'),
    'FixMatch lambda_u=-1': (lambda p, i, l, d: FixMatch(unlabelled_dl(i, l, mu=1), lambda_u=-1), 'lambda_u must be 0 or more'),
    'unlabelled_dl mu=0': (lambda p, i, l, d: unlabelled_dl(i, l, mu=0), 'mu must be at least 1'),
    'cpc_classifier head=x': (lambda p, i, l, d: cpc_classifier(l, 'tiny', head='x', patch_size=8), "unknown head 'x'"),
    'knn_accuracy k=0': (lambda p, i, l, d: knn_accuracy(l, 'tiny', k=0, patch_size=8), 'k must be at least 1'),
    'linear_probe epochs=0': (lambda p, i, l, d: linear_probe(l, 'tiny', epochs=0, patch_size=8), 'epochs must be at least 1'),
    'KNNProbe size=0': (lambda p, i, l, d: KNNProbe(i, size=0), 'size must be a positive'),
    'KNNProbe one class': (lambda p, i, l, d: KNNProbe(i.filter(lambda o: parent_label(o) == 'c0'), size=32), 'at least 2 classes'),
    'converge patience=0': (lambda p, i, l, d: converge(lambda e, lr: None, 2, 1e-3, patience=0), 'patience must be at least 1'),
    'converge lr=0': (lambda p, i, l, d: converge(lambda e, lr: None, 2, 0), 'positive learning rate'),
    'peer_dls bs=0': (lambda p, i, l, d: peer_dls(i, bs=0), 'bs must be at least 1'),
    'peer_backbone vit': (lambda p, i, l, d: peer_backbone('vit'), "unknown peer backbone 'vit'"),
}

@pytest.mark.parametrize('family', [data_calls, model_calls, finetune_calls], ids=['data', 'model', 'finetune'])
def test_bad_calls_are_refused(data, family):
    for name, (call, words) in family.items():
        with pytest.raises(ValueError) as e: call(*data)
        assert words in str(e.value), f"{name}: {e.value}"

def test_bad_encoder_files_are_refused(tmp_path):
    enc = cpc_encoder('tiny'); enc.patch_size = 8
    good = save_encoder(enc, tmp_path/'e').read_bytes()
    for name, content, words in [('cut.safetensors', good[:len(good) // 2], 'cut short or corrupt'), ('empty.safetensors', b'', 'not a fastai_cpc encoder file'),
                                 ('text.safetensors', b'hello', 'not a fastai_cpc encoder file')]:
        (tmp_path/name).write_bytes(content)
        with pytest.raises(ValueError, match=words): load_encoder(tmp_path/name)
    with pytest.raises(FileNotFoundError, match='no encoder file'): load_encoder(tmp_path/'missing.safetensors')

@pytest.mark.parametrize('option, value, words', [
    ('frac', 0, '--frac must be in (0, 1]'), ('frac', 1.5, '--frac must be in (0, 1]'), ('bs', 0, '--bs must be at least 1'),
    ('epochs', 0, '--epochs must be at least 1'), ('ft_epochs', -1, '--ft-epochs must be at least 1'), ('lr', 0, '--lr must be positive'),
    ('ft_lr', -1e-3, '--ft-lr must be positive'), ('lr_mult', 0, '--lr-mult must be positive'), ('size', -32, '--size must be a positive number of pixels'),
    ('n_held_out', 0, '--n-held-out must be at least 1'), ('max_ft_mult', 0, '--max-ft-mult must be at least 1'), ('mu', 0, '--mu must be at least 1'),
    ('n_per_class', 0, '--n-per-class must be at least 1'), ('n_train', -5, '--n-train must be 0 (all of them) or more'),
    ('num_workers', -1, '--num-workers must be 0 or more'),
])
def test_bad_command_options_are_refused_before_any_work(option, value, words):
    with pytest.raises(cli.UserError, match=re.escape(words)): cli._settings('fastai-cpc', 'here', Path('here'), 'cpu', {option: value})
