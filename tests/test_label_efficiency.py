"Smoke test of the label-efficiency benchmark (benchmarks/label_efficiency.py): it runs end to end and writes well-formed files"
import json, math, os, shutil, subprocess, sys
from operator import itemgetter
from pathlib import Path
import pytest
from PIL import Image
from fastcore.basics import AttrDict

ROOT = Path(__file__).parents[1]
RUN = [sys.executable, '-m', 'benchmarks.label_efficiency']
ENV = {**os.environ, 'PYTHONPATH': str(ROOT)}  # the benchmarks run as modules of the repository's root, from any folder
from benchmarks import label_efficiency as le  # `call_parse` runs `main` only under __main__
from benchmarks.common import ft_epochs
from tools import results_readme as rr

def test_efficiency_factor():
    f = le.efficiency_factor
    sup = {0.01: 0.2, 0.1: 0.4, 1.0: 0.6}
    assert f(0.01, 0.4, sup) == (pytest.approx(10.), '=')               # scratch needs 10% for what CPC gets at 1%
    assert f(0.01, 0.3, sup) == (pytest.approx(10**0.5), '=')           # halfway on the log axis between 1% and 10%
    assert f(0.1, 0.1, sup) == (pytest.approx(0.1), '<=')               # scratch's smallest fraction already does better
    assert f(0.01, 0.7, sup) == (pytest.approx(100.), '>')              # scratch never gets there: a lower bound

def test_ft_epochs_same_rule():
    ft = ft_epochs
    assert ft(20, 64, 6, 40) == 40     # one step an epoch: 40 epochs for 40 steps
    assert ft(2000, 64, 6, 40) == 6    # 32 steps an epoch: the minimum of 6 epochs
    assert ft(5, 64, 1, 1) == 2        # at least two epochs, so `fine_tune` has a frozen and an unfrozen phase

def test_runs_end_to_end_and_resumes(tmp_path):
    cmd = [*RUN, '--datasets', 'imagenette', '--out', str(tmp_path), '--cache', str(tmp_path/'cache'),
           '--fracs', '0.5,1', '--seeds', '2', '--n-pool', '60', '--n-valid', '20', '--pre-epochs', '1', '--min-epochs', '1',
           '--min-steps', '2', '--size', '16', '--patch-size', '4', '--num-workers', '0', '--protocol', 'fixed']
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path/'cpu-imagenette.json').read_text())
    assert {'meta', 'config', 'pool', 'probes', 'runs', 'summary', 'declared_side'} <= set(res) and res['declared_side'] == 'cpc_finetune'
    assert {'command', 'device', 'versions', 'commit', 'date'} <= set(res['meta'])
    assert 50 <= res['pool'] <= 70 and res['n_valid'] == 20  # 60 stratified over 10 classes, rounded per class and list((tmp_path/'cache').glob('*-encoder.safetensors'))
    # 0.5 and 1 are above 10%: one seed each, four sides
    sides = ['cpc_finetune', 'cpc_frozen', 'fastai', 'scratch']
    assert sorted((r['side'], r['frac']) for r in res['runs']) == sorted((s, f) for s in sides for f in (.5, 1.))
    for run in res['runs']: assert 0 <= run['accuracy'] <= 1 and run['epochs'] >= 2 and run['seconds'] >= 0
    half, full = res['summary']
    assert full['labels'] == res['pool'] and 20 <= half['labels'] <= 40
    for row in res['summary']:
        assert all(row[s]['n'] == 1 and 0 <= row[s]['mean'] <= 1 for s in sides)
        assert set(row['factors']['cpc_finetune']) == {'scratch', 'fastai', 'best_scratch'}
    md = (tmp_path/'cpu-imagenette.md').read_text()
    assert md.startswith('# Label efficiency') and res['meta']['command'] in md and res['meta']['commit'] in md
    rows = [l for l in md.splitlines() if l.startswith('| 50%') or l.startswith('| 100%')]
    assert len(rows) == 2 and all(l.count('|') == 10 for l in rows)
    with Image.open(tmp_path/'cpu-imagenette.png') as im: assert im.size[0] > 100 and im.size[1] > 100
    # the same command again: the cached encoder and the finished runs are reused, nothing is trained again
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    again = json.loads((tmp_path/'cpu-imagenette.json').read_text())
    assert again['runs'] == res['runs'] and again['probes'] == res['probes'] and '8 runs already done' in r.stdout
    # longer pre-training, first as a lead in its own folder (the declared side only), then made this run's setting with the lead's runs
    # taken over: a new encoder, only the sides built on it train again (those the lead ran are taken from it); the classifiers from scratch are kept
    longer_cmd = [*cmd[:cmd.index('--pre-epochs') + 1], '2', *cmd[cmd.index('--pre-epochs') + 2:]]
    lead_cmd = [*longer_cmd[:longer_cmd.index('--out') + 1], str(tmp_path/'lead'), *longer_cmd[longer_cmd.index('--out') + 2:], '--sides', 'cpc_finetune']
    r = subprocess.run(lead_cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    lead = json.loads((tmp_path/'lead'/'cpu-imagenette.json').read_text())
    r = subprocess.run([*longer_cmd, '--runs-from', str(tmp_path/'nowhere.json')], capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode != 0 and 'nowhere.json is not a results file' in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([*longer_cmd, '--runs-from', str(tmp_path/'lead'/'cpu-imagenette.json')], capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    longer = json.loads((tmp_path/'cpu-imagenette.json').read_text())
    assert '6 runs already done' in r.stdout and longer['encoder'] == lead['encoder'] != res['encoder'] and '-e2-' in longer['encoder']
    assert longer['probes'] == lead['probes']  # the lead's encoder, so its probes
    side_runs = lambda d, ss: [x for x in d['runs'] if x['side'] in ss]
    assert side_runs(longer, ('scratch', 'fastai')) == side_runs(res, ('scratch', 'fastai'))
    assert side_runs(longer, ('cpc_finetune',)) == [{**x, 'source': str(tmp_path/'lead'/'cpu-imagenette.json')} for x in lead['runs']]
    assert sorted((x['side'], x['frac']) for x in longer['runs']) == sorted((s, f) for s in sides for f in (.5, 1.))
    assert f"taken from `{tmp_path/'lead'/'cpu-imagenette.json'}`" in (tmp_path/'cpu-imagenette.md').read_text()  # where those runs came from

def test_results_are_published():
    "benchmarks/README.md holds every committed results table row for row; the README's Results and Speed cells show the current files"
    bench, readme = (ROOT/'benchmarks'/'README.md').read_text(), (ROOT/'README.md').read_text()
    assert bench == rr.benchmarks_readme(), "run: python tools/results_readme.py && python tools/docs.py --readme"
    for md in sorted((ROOT/'benchmarks'/'results').glob('*.md')):
        rows = [l for l in md.read_text().splitlines() if l.startswith('| ')]
        assert rows, md
        for row in rows: assert row in bench, f"{md.name}: {row}"
    assert rr.pretrain_table() in readme and rr.speed_table() in readme
    for f in rr.label_files():  # the `cpu` profile's converged table and plot in the README; the other profiles linked
        stem = f.name.split('.')[0]
        if stem.startswith('cpu-'):  # its plot too, once the run has drawn one (a run in progress before its first plot has none)
            assert rr.readme_table(f) in readme and (f"benchmarks/results/{stem}.png" in readme) == (ROOT/'benchmarks'/'results'/f'{stem}.png').exists()
        else: assert f"(benchmarks/results/{f.name if '.partial' in f.name else stem + '.md'})" in readme
    for f in rr.fixed_only(): assert f"(benchmarks/results/{f.stem}.md)" in readme  # no converged run yet: linked, not shown

def test_fixmatch_sides(tmp_path):
    "`--sides` runs the FixMatch sides alone, at 5% and below only; their columns appear in the table"
    cmd = [*RUN, '--datasets', 'imagenette', '--out', str(tmp_path), '--cache', str(tmp_path/'cache'),
           '--fracs', '0.05,0.5', '--seeds', '1', '--n-pool', '200', '--n-valid', '20', '--pre-epochs', '1', '--min-epochs', '1',
           '--min-steps', '2', '--size', '16', '--patch-size', '4', '--num-workers', '0', '--protocol', 'fixed', '--sides', 'cpc_fixmatch,scratch_fixmatch']
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path/'cpu-imagenette.json').read_text())
    assert sorted((r['side'], r['frac']) for r in res['runs']) == [('cpc_fixmatch', .05), ('scratch_fixmatch', .05)]  # not at 50%
    assert {'cpc_fixmatch', 'scratch_fixmatch'} <= set(res['summary'][0])
    md = (tmp_path/'cpu-imagenette.md').read_text()
    assert 'CPC + FixMatch | scratch + FixMatch' in md and 'mu=2' in md
    r = subprocess.run(cmd[:-1] + ['nonsense'], capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert r.returncode != 0 and "unknown side 'nonsense'" in r.stderr

def test_merged_runs():
    "Each choice made again by today's rule from the trials of every results file (here another head's); the runs kept are those made with it"
    c = AttrDict(protocol='converged', ft_lr=1e-3, lr_factors=(1/3, 3), options=('mixup',), max_mult=2, patience=1, edge_steps=0, heads=('linear', 'resnet'))
    t = lambda e, lr, acc, o=(), **h: dict(epochs=e, lr=lr, options=list(o), held_out=acc, **h)
    def results(head, trials, chosen, seeds, equal=False):  # one side, scratch, at 10%: its choice, its runs (and scratch_equal's, built on it)
        ch = dict(chosen, base_epochs=2, trials=trials, selection_image_passes=10 * sum(o['epochs'] for o in trials), selection_seconds=5.)
        run = lambda side, seed: dict(side=side, frac=0.1, seed=seed, labels=10, accuracy=.5, **{k: chosen[k] for k in ('epochs', 'lr', 'options')})
        return dict(config=dict(cfg, head=head), pool=60, choices={'scratch@0.1': ch},
                    runs=[run('scratch', k) for k in seeds] + ([run('scratch_equal', 0)] if equal else []))
    cfg = dict(ft_lr=1e-3, lr_mult=1, pre_epochs=2, head='linear')
    # written before heads were chosen: no head named; the rule's choice among these is 2 epochs at 3e-3 without MixUp
    linear = [t(2, 1e-3, .4), t(2, 1e-3 * (1/3), .3), t(2, 1e-3 * 3, .5), t(4, 1e-3 * 3, .45), t(2, 1e-3 * 3, .45, ['mixup'])]
    main = results('linear', linear, linear[2], (0, 1, 2), equal=True)
    resnet = lambda best: [t(2, 1e-3, best - .05), t(2, 1e-3 * (1/3), best), t(2, 1e-3 * 3, best - .1), t(4, 1e-3 * (1/3), best + .02), t(4, 1e-3 * (1/3), .3, ['mixup'])]
    lead = lambda best: results('resnet', resnet(best), resnet(best)[3], (0, 1))
    runs, choices, selecting, pending = le.merged_runs([(None, main)], cfg, 60, c)  # only the linear head's trials: the resnet head is still to try
    assert runs == [] and choices == {} and selecting['scratch@0.1']['trials'] == [{**o, 'head': 'linear'} for o in linear]
    assert [(r['side'], r['seed'], r['head']) for r in pending] == [('scratch', k, 'linear') for k in (0, 1, 2)]  # they wait for the choice
    runs, choices, selecting, pending = le.merged_runs([(None, main), ('lead.json', lead(.6))], cfg, 60, c)  # the resnet head wins on the held-out images
    ch = choices['scratch@0.1']
    assert (ch['head'], ch['epochs'], ch['lr'], ch['held_out']) == ('resnet', 4, 1e-3 * (1/3), .62) and len(ch['trials']) == 10 and not selecting
    assert ch['selection_seconds'] == 10. and ch['selection_image_passes'] == 10 * sum(o['epochs'] for o in ch['trials']) and pending == []  # both files' selections
    assert [(r['side'], r['seed'], r['source']) for r in runs] == [('scratch', 0, 'lead.json'), ('scratch', 1, 'lead.json')]  # seed 2 and scratch_equal: to run
    runs, choices, _, _ = le.merged_runs([(None, main), ('lead.json', lead(.4))], cfg, 60, c)  # the linear head wins: this file's runs stand, scratch_equal too
    assert choices['scratch@0.1']['head'] == 'linear' and [(r['side'], r['seed']) for r in runs] == [('scratch', 0), ('scratch', 1), ('scratch', 2), ('scratch_equal', 0)]
    runs, choices, _, _ = le.merged_runs([(None, main), ('lead.json', lead(.6))], cfg, 60, AttrDict(c, heads=('linear',)))  # one head: as before
    assert choices['scratch@0.1']['head'] == 'linear' and len(runs) == 4 and 'source' not in runs[0]
    _, choices, selecting, _ = le.merged_runs([(None, main)], cfg, 60, AttrDict(c, heads=('linear',), edge_steps=1))  # 3e-3 is the grid's edge: 9e-3 to try
    assert choices == {} and len(selecting['scratch@0.1']['trials']) == 5

def test_interrupted_selection_resumes():
    "A selection cut off after some trials resumes where it stopped: its recorded trials are not trained again and it chooses the same"
    calls, opts = [], ('label_smoothing', 'mixup')
    def fit(epochs, lr, **o):  # held-out accuracy rises to 24 epochs, is best at 3x the rate and with MixUp
        calls.append((epochs, lr, o))
        return le._Recorded(min(epochs, 24) / 100 + .01 * (lr == 3e-3) + .005 * bool(o.get('mixup')))
    whole = le.converge(fit, 3, 1e-3, (1/3, 3), opts, max_epochs=48, patience=2, edge_steps=2)
    n = len(calls)
    for k in (1, 4, n - 1):  # killed while training trial k + 1
        calls.clear()
        again = le.converge(le.replayed(whole[2][:k], opts, fit), 3, 1e-3, (1/3, 3), opts, max_epochs=48, patience=2, edge_steps=2)
        assert len(calls) == n - k and again[1:] == whole[1:]
    # the unfinished selections are kept with the runs; a setting read only by some sides voids only theirs
    cfg = dict(ft_lr=1e-3, lr_mult=1, pre_epochs=2, head='linear')
    old = dict(config=cfg, pool=60, runs=[], choices={}, selecting={'scratch@0.1': dict(trials=whole[2][:4], seconds=9.), 'cpc_finetune@0.1': dict(trials=[], seconds=1.),
                                                                   'fastai@0.1': dict(trials=[], seconds=1.)})
    c = AttrDict(cfg, protocol='converged')
    assert le.kept_runs(old, cfg, 60, c)[2]['scratch@0.1']['trials'] == [{**o, 'head': 'linear'} for o in whole[2][:4]]  # the head it had
    assert set(le.kept_runs(old, {**cfg, 'lr_mult': 10}, 60, c)[2]) == {'scratch@0.1', 'fastai@0.1'}
    assert set(le.kept_runs(old, {**cfg, 'head': 'resnet'}, 60, c)[2]) == set(old['selecting'])  # converged trials name their head
    assert set(le.kept_runs(old, {**cfg, 'head': 'resnet'}, 60, AttrDict(c, protocol='fixed'))[2]) == {'fastai@0.1'}  # fastai's model has its own head
    assert le.kept_runs(old, {**cfg, 'ft_lr': 2e-3}, 60, c)[2] == {}

def test_converged_protocol(tmp_path):
    "Every side's settings chosen on held-out training images on the first seed, reused by the others; the choices and the compute written"
    cmd = [*RUN, '--datasets', 'imagenette', '--out', str(tmp_path), '--cache', str(tmp_path/'cache'),
           '--fracs', '0.1', '--seeds', '2', '--n-pool', '120', '--n-valid', '20', '--n-tune', '2', '--max-mult', '2', '--pre-epochs', '1',
           '--min-epochs', '1', '--min-steps', '2', '--size', '16', '--patch-size', '4', '--num-workers', '0']
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=900, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path/'cpu-imagenette-converged.json').read_text())
    sides = ['cpc_finetune', 'cpc_frozen', 'fastai', 'scratch']
    assert res['protocol'] == 'converged' and res['n_tune'] == 20 and res['label_pool'] == res['pool'] - 20
    assert sorted((r['side'], r['seed']) for r in res['runs']) == sorted((s, k) for s in sides for k in (0, 1))
    lr = res['config']['ft_lr']
    for side in sides:
        ch = res['choices'][f'{side}@0.1']
        assert ch['epochs'] in (ch['base_epochs'], 2 * ch['base_epochs']) and min(abs(ch['lr'] / lr - 3. ** k) for k in range(-3, 4)) < 1e-9  # the grid and its edge steps
        assert set(ch['options']) <= {'label_smoothing', 'mixup'} and len(ch['trials']) >= 4 and 0 <= ch['held_out'] <= 1
        assert ch['held_out'] == max(t['held_out'] for t in ch['trials'])  # the best trial, scored on the held-out images
        for run in res['runs']:
            if run['side'] == side: assert (run['epochs'], run['lr'], run['options'], run.get('head')) == (ch['epochs'], ch['lr'], ch['options'], ch.get('head'))  # every seed
        assert {t.get('head') for t in ch['trials']} == ({None} if side == 'fastai' else {'linear', 'resnet'})  # each of our heads tried, fastai's model its own
    fl = res['flops']
    assert fl['pretrain_total'] > fl['pretrain_per_image'] > 0 and fl['per_image']['cpc_frozen'] < fl['per_image']['cpc_finetune']
    row = res['summary'][0]
    assert row['best_scratch']['mean'] == max(row['scratch']['mean'], row['fastai']['mean']) and 'best_scratch' in row['factors']['cpc_finetune']
    md = (tmp_path/'cpu-imagenette-converged.md').read_text()
    assert 'every side trained to convergence' in md and res['meta']['commit'] in md
    assert sum(l.startswith('| cpc_') or l.startswith('| scratch |') or l.startswith('| fastai |') for l in md.splitlines()) == 4  # one choice row a side
    assert not (tmp_path/'cpu-imagenette.json').exists()  # the fixed protocol's files untouched
    # a peer side added to these results: its pre-trained backbone from --peer-cache, fine-tuned by the same rule
    peer = cmd + ['--sides', 'simclr_finetune,cpc30_finetune,cpc_distill,scratch_equal,cpc_lpft', '--peer-arch', 'tiny', '--peer-cache', str(tmp_path/'peers')]
    r = subprocess.run(peer, capture_output=True, text=True, cwd=tmp_path, timeout=900, env=ENV)
    assert r.returncode != 0 and 'pre-train the peer first' in r.stderr and 'Traceback' not in r.stderr
    from fastai_cpc.peers import peer_backbone, save_backbone
    save_backbone(peer_backbone('tiny'), tmp_path/'peers'/'simclr-tiny.safetensors', 'tiny')
    shutil.copy(res['encoder'], tmp_path/'peers'/'default.safetensors')  # CPC pre-trained beside the peers (here: the run's own encoder)
    r = subprocess.run(peer, capture_output=True, text=True, cwd=tmp_path, timeout=900, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    res2 = json.loads((tmp_path/'cpu-imagenette-converged.json').read_text())
    assert [x for x in res2['runs'] if x['side'] not in ('simclr_finetune', 'cpc30_finetune', 'cpc_distill', 'scratch_equal', 'cpc_lpft')] == res['runs']  # the earlier runs kept as they were
    assert sorted(x['seed'] for x in res2['runs'] if x['side'] == 'cpc_distill') == [0, 1] and 'cpc_distill@0.1' in res2['choices']
    assert res2['flops']['per_image']['cpc_distill'] > res2['flops']['per_image']['cpc_finetune'] and 'cpc_distill' in res2['sides']
    assert sorted(x['seed'] for x in res2['runs'] if x['side'] == 'simclr_finetune') == [0, 1] and 'simclr_finetune@0.1' in res2['choices']
    assert res2['flops']['per_image']['simclr_finetune'] > 0 and 'simclr_finetune' in res2['sides']
    assert sorted(x['seed'] for x in res2['runs'] if x['side'] == 'cpc30_finetune') == [0, 1] and res2['peers']['cpc30_finetune'].endswith('default.safetensors')
    assert {t.get('head') for t in res2['choices']['cpc30_finetune@0.1']['trials']} == {None}  # the profile's (linear) head, as the peers' own
    md = (tmp_path/'cpu-imagenette-converged.md').read_text()
    assert 'SimCLR (lightly) + fine_tune' in md and "CPC at the peers' budget + fine_tune" in md and 'CPC + fine_tune + distillation' in md
    eq = [x for x in res2['runs'] if x['side'] == 'scratch_equal']  # the second view: scratch as chosen, for CPC's FLOPs, first seed only
    assert [x['seed'] for x in eq] == [0] and (eq[0]['lr'], eq[0]['options']) == itemgetter('lr', 'options')(res2['choices']['scratch@0.1'])
    assert eq[0]['epochs'] == le.equal_compute_epochs(0.1, eq[0]['labels'], res2['choices'], res2['flops']) > res2['choices']['scratch@0.1']['epochs']
    assert "from scratch, CPC's compute" in md and 'equal total compute' in md
    assert sorted(x['seed'] for x in res2['runs'] if x['side'] == 'cpc_lpft') == [0, 1] and 'CPC, linear probe then fine_tune' in md
    held = {s: res2['choices'][f'{s}@0.1']['held_out'] for s in le.cpc_sides}  # the held-out images choose among the CPC sides, LP-FT included
    assert res2['summary'][0]['cpc_chosen']['side'] == max(held, key=held.get)
