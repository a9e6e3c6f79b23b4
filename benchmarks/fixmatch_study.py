"""Why FixMatch adds little at the `cpu` profile's budget, measured: CPC fine-tuning alone and with FixMatch at 1% of the
labels, with the profile's settings and with one change at a time (a threshold of 1, which leaves only the unlabelled
batches' effect on batch norm's running statistics; a lower confidence threshold; the paper's mu=7; five times the
steps; FreeMatch's self-adaptive thresholds), recording per epoch the share of unlabelled images above the threshold and how many of their
pseudo-labels are right.

Nothing here is judged on the validation images: every variant is scored on 2,000 held-out *training* images (never
labelled for training, and left out of the unlabelled set too), so the label-efficiency benchmark's validation set stays
untouched by this study's choices.

    python -m benchmarks.fixmatch_study --dataset imagenette --seeds 2

Writes benchmarks/results/fixmatch-study-<dataset>.{md,json}. This is a study, not a test: it measures and reports.
"""
from __future__ import annotations
import json, time
from fastcore.script import call_parse
from fastai_cpc.all import *
from fastai_cpc.recipes import resolve_data
from .common import ft_epochs, provenance, classifier, encoder_file, pool_of, settings, train

here = Path(__file__).resolve().parent
# name: (side, changes to the profile's settings, multiplier of the profile's fewest fine-tuning steps)
variants = {'fine-tune': ('cpc_finetune', {}, 1), 'FixMatch': ('cpc_fixmatch', {}, 1),
            'FixMatch threshold 1': ('cpc_fixmatch', dict(threshold=1.), 1),  # no pseudo-label ever: what the extra batches do to batch norm's statistics alone
            'FixMatch threshold 0.8': ('cpc_fixmatch', dict(threshold=0.8), 1),
            'FixMatch adaptive threshold': ('cpc_fixmatch', dict(threshold='adaptive'), 1),  # FreeMatch's self-adaptive thresholds
            'FixMatch mu 7': ('cpc_fixmatch', dict(mu=7), 1),
            'fine-tune 5x steps': ('cpc_finetune', {}, 5), 'FixMatch 5x steps': ('cpc_fixmatch', {}, 5)}

class _Trace(Callback):
    "FixMatch's `confident` share and `pseudo_acc` after every training epoch (both `fit`s of `fine_tune`)"
    order = 100
    def __init__(self): self.trace = []
    def after_train(self):
        fm = getattr(self.learn, 'fix_match', None)
        if fm is not None and fm.run: self.trace.append([round(fm.share, 3), round(fm.pseudo_acc, 3)])

def run(name:str, c:AttrDict, trn:L, dev:L, unlabelled:L, enc:Path, seed:int) -> dict:
    side, changes, mult = variants[name]
    c = AttrDict({**c, **changes})
    dls = labelled_dls(trn, dev, size=c.size, bs=min(c.ft_bs, len(trn)), **({} if c.ft_workers is None else dict(num_workers=c.ft_workers)))
    epochs = ft_epochs(len(trn), dls.bs, c.min_epochs, c.min_steps * mult)
    set_seed(seed); t = time.time()
    learn = classifier(side, dls, enc, c, unlabelled, c.ft_workers)
    learn.add_cb(trace := _Trace())
    out = train(learn, side, epochs, c)
    return dict(variant=name, seed=seed, epochs=epochs, steps=epochs * len(dls.train), **out, trace=trace.trace, seconds=round(time.time() - t, 1))

def to_markdown(res:dict) -> str:
    m = res['meta']
    lines = [f"# FixMatch study: {res['dataset']}, {res['frac']:.0%} of the labels ({res['labels']} images)", '',
             f"- commands (each added the runs not there yet): {'; '.join(f'`{c}`' for c in m.get('commands', [m['command']]))}", f"- device: {m['device']}; {m['versions']}", f"- commit: {m['commit']}; date: {m['date']}",
             f"- scored on {res['n_dev']} held-out training images (not the validation set); unlabelled set: the other {res['n_unlabelled']} training images; "
             f"encoder: `{Path(res['encoder']).name}`; settings: the `{m['profile']}` profile's (mu {res['config']['mu']}, threshold {res['config']['threshold']}) except where the variant says", '',
             '| variant | steps | accuracy per seed | mean | confident (last epoch) | pseudo-labels right (last epoch) | seconds per run |', '|---|---|---|---|---|---|---|']
    for name in variants:
        rs = [r for r in res['runs'] if r['variant'] == name]
        if not rs: continue
        last = lambda k: ' / '.join(f"{r[k]:.2f}" for r in rs) if k in rs[0] else ''
        lines.append(f"| {name} | {rs[0]['steps']} | {' / '.join(format(r['accuracy'], '.3f') for r in rs)} | {np.mean([r['accuracy'] for r in rs]):.3f} | "
                     f"{last('confident')} | {last('pseudo_acc')} | {np.mean([r['seconds'] for r in rs]):.0f} |")
    lines += ['', 'Per epoch (seed 0): share of unlabelled images above the threshold, and the accuracy of their pseudo-labels:', '']
    for r in res['runs']:
        if r['seed'] == 0 and r['trace']: lines.append(f"- {r['variant']}: " + ', '.join(f"{s:.2f}/{a:.2f}" for s, a in r['trace']))
    return '\n'.join(lines) + '\n'

def render(json_file:Path):
    "Rewrite the .md beside a study's .json (after a change of format)"
    json_file.with_suffix('.md').write_text(to_markdown(json.loads(json_file.read_text())))

@call_parse
def main(dataset:str='imagenette', # data set name or folder
         profile:str='cpu', # the label-efficiency profile whose encoder and settings are used
         frac:float=0.01, # fraction of the training images labelled
         seeds:int=2, # labelled subsets (and seeds) per variant
         n_dev:int=2000, # held-out training images that score the variants
         only:str=None, # comma-separated variants (all by default)
         out:str=str(here/'results'), cache:str=str(here.parent/'models'/'label-efficiency')):
    "Run the FixMatch study and write its results; finished runs are kept and skipped on a rerun"
    c = settings(profile, dataset)
    path = resolve_data(dataset)
    pool = pool_of(path, c.n_pool)
    enc, _ = encoder_file(path, pool, c, Path(cache))  # the label-efficiency benchmark's encoder (pre-trained there if not cached)
    perm = np.random.default_rng(0).permutation(len(pool))
    dev = pool[perm[:n_dev]]
    rest = pool[perm[n_dev:]]
    stem = Path(out)/f"fixmatch-study-{path.name}"
    old = json.loads(stem.with_suffix('.json').read_text()) if stem.with_suffix('.json').exists() else {}
    meta = provenance('cuda' if torch.cuda.is_available() else 'cpu', profile=profile)
    meta['commands'] = old.get('meta', {}).get('commands', []) + [meta['command']]  # every invocation that added runs, in order
    res = dict(meta=meta, dataset=path.name, frac=frac, n_dev=n_dev,
               n_unlabelled=len(rest), encoder=str(enc), config={k: v for k, v in c.items() if k != 'datasets'}, runs=old.get('runs', []))
    done = {(r['variant'], r['seed']) for r in res['runs']}
    for seed in range(seeds):
        trn = label_subset(rest, frac * len(pool) / len(rest), seed=seed)  # as many labels as the benchmark's frac of the whole pool
        res['labels'] = len(trn)
        for name in (only.split(',') if only else variants):
            if (name, seed) in done: continue
            res['runs'].append(run(name, c, trn, dev, rest, enc, seed))
            r = res['runs'][-1]
            print(f"[{time.strftime('%H:%M:%S')}] {name:26s} seed {seed}: {r['steps']} steps, accuracy {r['accuracy']:.4f}, {r['seconds']:.0f} s; trace {r['trace'][-3:]}", flush=True)
            stem.with_suffix('.json').write_text(json.dumps(res, indent=1, default=str))
            stem.with_suffix('.md').write_text(to_markdown(res))
