"""benchmarks/pretrain_efficiency.py: the compute budget stops training where it should and drives the schedule, and a
tiny run writes well-formed files. This checks the benchmark; it does not time anything."""
import json, os, subprocess, sys
from pathlib import Path
import numpy as np

ROOT = Path(__file__).parents[1]
RUN = [sys.executable, '-m', 'benchmarks.pretrain_efficiency']
ENV = {**os.environ, 'PYTHONPATH': str(ROOT)}  # the benchmarks run as modules of the repository's root, from any folder
from fastai_cpc.test_utils import synth_image_folder
from benchmarks import pretrain_efficiency  # `call_parse` runs `main` only when the script is run, not imported

def test_budget_stops_fit_and_drives_the_schedule():
    from fastai.test_utils import synth_learner
    from fastai.callback.core import Callback
    ticks = iter(range(10**6))
    budget = pretrain_efficiency.ComputeBudget(lambda: float(next(ticks)), total=20.)  # each clock reading is one second later
    seen = []
    class Spy(Callback):
        order = 55  # after the budget sets pct_train, before the scheduler reads it
        def before_batch(self):
            if self.training: seen.append(self.learn.pct_train)
    learn = synth_learner(n_trn=3)  # 3 batches an epoch: segments cross epoch ends
    budget.stop_at = 8.
    learn.fit_one_cycle(1000, 1e-2, cbs=[budget, Spy()])
    # one clock second per batch (the readings between epochs are not training): 8 steps, the schedule at used/total before each
    assert budget.used == 8. and budget.steps == 8 and seen == [i / 20 for i in range(8)]
    budget.stop_at = 20.
    learn.fit_one_cycle(1000, 1e-2, cbs=[budget, Spy()])  # the next segment continues the same budget and schedule
    assert budget.used == 20. and budget.steps == 20 and seen == [i / 20 for i in range(20)]

def test_augment_ramp_grows_the_augmentation_the_dataloader_uses(tmp_path):
    from fastai.test_utils import synth_learner
    from fastai_cpc.all import cpc_dls, PatchAugment
    aug = pretrain_efficiency.augmentation('ramp')
    dls = cpc_dls(synth_image_folder(tmp_path, n_train=8, n_valid=2, size=24)/'train', size=16, patch_size=4, bs=4, aug=aug, num_workers=0)
    assert any(getattr(t, 'aug', None) is aug for t in dls.train.after_batch.fs)  # the object the callback changes is the one in use
    ramp, learn = pretrain_efficiency.AugmentRamp(aug, until=0.5), synth_learner()
    ramp.learn, full = learn, PatchAugment()
    for pct, f in ((0., 0.), (0.25, 0.5), (0.5, 1.), (0.9, 1.)):
        learn.pct_train, learn.training = pct, True
        ramp.before_batch()
        assert np.isclose(aug.p_drop, full.p_drop * f) and np.isclose(aug.jitter, full.jitter * f) and aug.p_flip == full.p_flip

def test_runs_end_to_end(tmp_path):
    data = synth_image_folder(tmp_path/'data', n_train=40, n_valid=10, size=24)
    cmd = [*RUN, '--data', str(data), '--variants', 'default,ctx64-cos,rampaug,flatcos,wd0.1,simclr-tiny,byol-resnet18', '--minutes', '0.02', '--every', '0.01',
           '--per-class', '4', '--n-valid-cpc', '8', '--sanity-steps', '2', '--out', str(tmp_path/'out')]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path/'out'/'pretrain-data.json').read_text())
    assert {'command', 'device', 'versions', 'commit', 'date'} <= set(res['meta'])
    assert res['default_variant'] in res['variants'] and set(res['random']) == {'knn', 'linear'}
    for v in res['variants'].values():
        assert len(v['points']) == 2 and Path(tmp_path, v['encoder_file']).exists()
        for p in v['points']:
            assert {'minutes', 'train_loss', 'cpc_accuracy', 'knn', 'linear'} <= set(p)
            assert 0 <= p['knn'] <= 1 and 0 <= p['linear'] <= 1
            assert (p['cpc_accuracy'] is None) == bool(v['settings'].get('method'))  # the peers have no contrastive accuracy of CPC's
        assert v['gflops_per_image'] > 0
        assert [p['minutes'] for p in v['points']] == sorted(p['minutes'] for p in v['points'])
        assert v['points'][-1]['minutes'] >= 0.02
    assert set(res['sanity']) == {'default', 'ctx64-cos', 'rampaug', 'flatcos', 'wd0.1'}  # CPC's check, not the peers'
    assert set(res['random_peers']) == {'tiny', 'resnet18'} and res['meta']['lightly']
    # a rerun with one more variant trains only that one: the finished variants are kept as they were, named again or not
    r = subprocess.run([*cmd[:6], 'default,paper', *cmd[7:]], capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    again = json.loads((tmp_path/'out'/'pretrain-data.json').read_text())
    assert list(again['variants']) == [*res['variants'], 'paper'] and all(again['variants'][n] == v for n, v in res['variants'].items())
    assert 'default: finished' in r.stdout and set(again['sanity']) == {*res['sanity'], 'paper'}
    md = (tmp_path/'out'/'pretrain-data.md').read_text()
    assert 'ctx64-cos' in md and 'byol-resnet18' in md and "lightly's CIFAR-10 benchmark" in md and '- commit:' in md and (tmp_path/'out'/'pretrain-data.png').stat().st_size > 1000
