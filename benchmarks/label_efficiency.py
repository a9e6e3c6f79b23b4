"""Label-efficiency benchmark, as a user meets it (the paper's Figure 1): pre-train CPC v2 on every training image,
labels unused, then train classifiers on stratified subsets of the whole labelled training split, 1% to 100%:

- `cpc_finetune`: the CPC encoder and a head, `fine_tune` (one epoch for the head, then every layer at the same rate);
- `cpc_frozen`: the CPC encoder frozen, the head trained (the paper's linear evaluation);
- `scratch`: the same classifier from random weights, `fit_one_cycle`;
- `fastai`: what a fastai user would do without this package, `vision_learner` with an `xresnet` from random weights, `fit_one_cycle`;
- `cpc_fixmatch`, `scratch_fixmatch` (at 5% and below, `--protocol fixed` only): `cpc_finetune` and `scratch` with the
  `FixMatch` callback, which uses every training image again, unlabelled, while fine-tuning;
- `cpc_distill` (converged protocol, when named in `--sides`): `cpc_finetune` as chosen, then a student that starts as its copy
  and learns its softened predictions on every training image, unlabelled (`fastai_cpc.distill`), by the same rule;
- `cpc_lpft` (when named in `--sides`): a linear probe, then fine-tuning: the head alone for half the epochs, then every layer
  (`fine_tune`'s `freeze_epochs`), a remedy for fine-tuning that distorts pre-trained features when labels are few (Kumar et al. 2022);
- `scratch_equal` (converged protocol, when named in `--sides`, first seed only): the second view, `scratch` as chosen at that
  fraction but trained for as many FLOPs as CPC spent (pre-training plus `cpc_finetune`'s final run);
- `simclr_finetune`, `byol_finetune` (when named in `--sides`): lightly's SimCLR and BYOL (`fastai_cpc.peers`), pre-trained
  by `benchmarks/pretrain_efficiency.py` for its compute budget (their backbones in `--peer-cache`), fine-tuned as `cpc_finetune` is;
  `cpc30_finetune` beside them: CPC pre-trained there for the same budget (`default`), fine-tuned the same way, with a
  linear head on the pooled latents as theirs on their pooled features, so the three differ in the pre-training alone.

    python -m benchmarks.label_efficiency --profile cpu     # Imagenette + CIFAR-10 on a 2-core CPU
    python -m benchmarks.label_efficiency --profile gpu     # Imagenette 96 px + CIFAR-10 on one GPU, bf16

Two protocols, the same subsets for every side, nothing chosen on the validation images:

- `converged` (the default): every side trained as well as one rule can train it. A stratified share of the training
  images (`n_tune` per class) is held out of every labelled subset; on it, `fastai_cpc.converge.converge` chooses for each
  side and fraction (on the first seed's subset) the learning rate, the number of epochs (doubled from the fixed rule's
  while the held-out accuracy rises) and fastai's label smoothing and MixUp, and for the classifiers with our head (the CPC
  sides and scratch) the head, linear or resnet (all of it once per head, the better kept); the other seeds train with that choice.
  Results: `<profile>-<dataset>-converged.{md,json,png}`, with every choice and the compute of each side (pre-training,
  selection, final training, in FLOPs counted by torch).
- `fixed`: every side the same epochs rule and the same fixed learning rate (the CPC fine-tuning rule chosen on held-out
  training images, `benchmarks/finetune_rule.py`). Results: `<profile>-<dataset>.{md,json,png}`.
The pre-trained encoder is cached in models/label-efficiency/ under a name made of its settings, and an interrupted
pre-training resumes from its last epoch (`fastai-cpc pretrain`'s `run_pretrain`); every finished fine-tuning run, and every
finished trial of a selection, is written at once, and a rerun with the same settings skips what is already there (`--fresh` starts over). A changed setting
voids only the runs of the sides that read it (longer pre-training: only those on the encoder); `--runs-from` takes the runs
of another results file (a lead run in its own folder) where they were made at the settings the run now has, each marked with its source.
Every choice is made again from the trials all these files recorded, by the rule as it is now (`merged_runs`): where it needs a
trial none has (a head not tried yet), the selection resumes with the trials recorded, and the runs made before wait until the
choice is made and are kept if they were made with it.

Writes benchmarks/results/<profile>-<dataset>.{md,json,png}. This is a benchmark, not a test: it measures and reports.
"""
from __future__ import annotations
import contextlib, json, math, sys, time
from collections import Counter
from fastcore.script import call_parse, store_true, bool_arg
from fastai_cpc.all import *  # fastai's vision API too
from fastai_cpc.recipes import resolve_data, bf16_if_asked
from .common import (ft_epochs, provenance, peer_sides, fixmatch_sides, profiles, fractions, settings, pool_of,
                     encoder_file, classifier, peer_file, fit_side, train)

here = Path(__file__).resolve().parent
opt_in_sides = (*peer_sides, 'cpc_distill', 'scratch_equal', 'cpc_lpft')  # run only when named in --sides
sides = ('cpc_finetune', 'cpc_frozen', 'scratch', 'fastai', 'cpc_fixmatch', 'scratch_fixmatch', *opt_in_sides)
fixmatch_keys = ('mu', 'threshold', 'lambda_u', 'fixmatch_max_frac')  # settings only the FixMatch sides read
head_sides = ('cpc_finetune', 'cpc_frozen', 'cpc_lpft', 'scratch')  # `cpc_classifier`s with a choice of their own: under the converged rule they choose the head too
encoder_sides = ('cpc_finetune', 'cpc_frozen', 'cpc_lpft', 'cpc_distill', 'scratch_equal', *fixmatch_sides)  # built on the CPC encoder (or its cost)
pretrain_keys = ('pre_epochs', 'bs', 'lr', 'n_dirs')  # pre-training settings no classifier from scratch reads
own_keys = {**{k: fixmatch_sides for k in fixmatch_keys}, **{k: encoder_sides for k in pretrain_keys},
            'lr_mult': ('cpc_finetune', 'cpc_lpft', 'cpc_fixmatch', 'cpc_distill', 'scratch_equal', *peer_sides),  # fit_side's `fine_tune`, and those built on cpc_finetune's choice
            'head': ('cpc_finetune', 'cpc_frozen', 'cpc_lpft', 'cpc_distill', 'scratch', 'scratch_equal', *fixmatch_sides),  # `cpc_classifier`'s head (fixed protocol; converged runs record theirs)
            'heads': (),  # the converged rule's heads: `merged_runs` makes each choice again among them
            'peer_arch': ('simclr_finetune', 'byol_finetune'), 'peer_cache': peer_sides}  # settings only some sides read
unread_keys = ('semi',)  # settings of the run size that no side reads: a change in them (semi went from False to None) voids nothing
declared_side = 'cpc_finetune'  # the CPC side the bar is judged on, declared before any run
chosen_side = 'cpc_chosen'  # derived, no run of its own: at each fraction the CPC side (fine-tuned, frozen, or LP-FT where it ran) with the best
# held-out accuracy in the choices, so the validation images play no part; added after the first converged results (1%: frozen won)
cpc_sides = ('cpc_finetune', 'cpc_frozen', 'cpc_lpft')  # the classifiers on the CPC encoder that `chosen_side` chooses among
converged_sides = ('cpc_finetune', 'cpc_frozen', 'scratch', 'fastai')
dependents = {'cpc_finetune': ('cpc_distill', 'scratch_equal'), 'scratch': ('scratch_equal',)}  # sides built on another's choice
def n_seeds(frac:float, seeds:int=3) -> int:
    "Seeds per fraction: `seeds` at 10% and below, one above"
    return seeds if frac <= 0.1 else 1

def efficiency_factor(frac:float, acc:float, sup:dict) -> tuple:
    "(factor, qualifier): the smallest supervised fraction reaching `acc` on the log-fraction curve `sup`, over `frac`"
    fs = sorted(sup)
    if sup[fs[0]] >= acc: return fs[0] / frac, '<='
    for lo, hi in zip(fs, fs[1:]):
        if sup[hi] >= acc:
            t = (acc - sup[lo]) / (sup[hi] - sup[lo])
            return math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo))) / frac, '='
    return fs[-1] / frac, '>'

def trained(side:str, dls:DataLoaders, enc:Path, c:AttrDict, epochs:int, lr:float, head:str=None, **options) -> Learner:
    "A fresh classifier of `side` (with `head`, if given, instead of the profile's) with fastai's regularisers named in `options`, trained its own way"
    learn = classifier(side, dls, enc, AttrDict(c, head=head) if head else c, **regularisers(**options))
    learn.remove_cb(ProgressCallback)  # `converge` validates it on the held-out images: no bar for that either
    return fit_side(learn, side, epochs, lr, c)

def distilled(teacher:Learner, dls:DataLoaders, pool:L, c:AttrDict, num_workers, epochs:int, lr:float, **options) -> Learner:
    "`cpc_distill`'s student: it starts as the fine-tuned `teacher` and learns its predictions on the unlabelled `pool` (`Distill`), one cycle"
    reg = regularisers(**options)
    learn = bf16_if_asked(distill_learner(teacher, unlabelled_dl(pool, dls, mu=c.mu, num_workers=num_workers), cbs=[ValidateOnce(), *reg['cbs']]), c)
    learn.loss_func = reg['loss_func']
    learn.remove_cb(ProgressCallback)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    return learn

def equal_compute_epochs(frac:float, n:int, choices:dict, flops:dict) -> int:
    "Epochs of `scratch` on `n` images that cost the FLOPs CPC spent at `frac`: pre-training plus `cpc_finetune`'s final run"
    ft = choices.get(f'cpc_finetune@{frac:g}')
    if ft is None or f'scratch@{frac:g}' not in choices:
        raise ValueError("scratch_equal needs scratch's and cpc_finetune's choices at this fraction: run them first (--sides cpc_finetune,scratch,scratch_equal)")
    sc = choices[f'scratch@{frac:g}']
    return round((flops['pretrain_total'] + ft['epochs'] * n * per_image(flops, 'cpc_finetune', ft.get('head'))) / (n * per_image(flops, 'scratch', sc.get('head'))))

def per_image(flops:dict, side:str, head:str=None) -> float:
    "FLOPs of one training image of `side`, with `head` where it has one (`per_head`) and the profile's head otherwise (`per_image`)"
    return flops.get('per_head', {}).get(head, flops['per_image'])[side]

def _head(ch:dict) -> dict: return {'head': ch['head']} if ch.get('head') else {}

def fit_kw(ch:dict) -> dict:
    "The keyword arguments of `trained` that make the classifier of the choice (or run) `ch`: its head, if it chose one, and its regularisers"
    return {**_head(ch), **{o: True for o in ch['options']}}

def converged_run(side:str, frac:float, seed:int, trn:L, dls:DataLoaders, valid:L, enc:Path, c:AttrDict, e0:int, choices:dict, log=print,
                  pool:L=None, num_workers=None, flops:dict=None, selecting:dict=None, save=noop, pending:list=None) -> dict:
    """One run of the converged protocol: on the first seed, `converge` chooses the side's settings on the held-out images; then its validation accuracy.
    A selection's trials are kept in `selecting` as they finish (`save` writes them), so an interrupted one resumes with the trial it stopped in.
    A run in `pending` (made before, waiting for the choice: `merged_runs`) made with the choice is taken out of it and returned whole instead"""
    key, fit, pending = f'{side}@{frac:g}', partial(trained, side, dls, enc, c), ifnone(pending, [])
    def made(ch):
        if r := next((r for r in pending if (r['side'], r['frac'], r['seed']) == (side, frac, seed) and _same(r, ch)), None): pending.remove(r)
        return r
    if key in choices and (r := made(choices[key])): return r
    if side == 'scratch_equal':  # no choice of its own: scratch's rate and regularisers, CPC's compute
        n_ep = equal_compute_epochs(frac, len(trn), choices, flops)
        sc = choices[f'scratch@{frac:g}']
        learn = fit(n_ep, sc['lr'], **fit_kw(sc))
        acc = float(learn.validate(dl=dls.test_dl(valid, with_labels=True))[1])
        return dict(accuracy=acc, epochs=n_ep, lr=sc['lr'], options=sc['options'], **_head(sc), image_passes=n_ep * len(trn))
    if side == 'cpc_distill':  # the teacher: cpc_finetune as chosen at this fraction, trained on this seed's subset
        ft = choices.get(f'cpc_finetune@{frac:g}')
        if ft is None: raise ValueError("cpc_distill needs cpc_finetune's choice at this fraction: run cpc_finetune first (--sides cpc_finetune,cpc_distill)")
        teacher = trained('cpc_finetune', dls, enc, c, ft['epochs'], ft['lr'], **fit_kw(ft))
        fit = partial(distilled, teacher, dls, pool, c, num_workers)
    if key not in choices:
        selecting = ifnone(selecting, {})
        sel = selecting.setdefault(key, dict(trials=[], seconds=0.))
        t, before = time.time(), sel['seconds']
        def record(o):
            log(f"    {side} {frac:.0%} trial: {o}{' (recorded)' if o in sel['trials'] else ''}")
            if o not in sel['trials']: sel.update(trials=sel['trials'] + [o], seconds=round(before + time.time() - t, 1)); save()
        learn, chosen, trials = choose(side, sel['trials'], c, e0, fit, log=record)
        choices[key] = dict(chosen, base_epochs=e0, trials=trials, selection_image_passes=sum(o['epochs'] for o in trials) * len(trn),
                            selection_seconds=round(before + time.time() - t, 1))
        del selecting[key]
        if isinstance(learn, _Recorded):  # chosen before the interruption, or from trials made before
            if r := made(chosen): return r
            learn = fit(chosen['epochs'], chosen['lr'], **fit_kw(chosen))
    else: learn = fit(choices[key]['epochs'], choices[key]['lr'], **fit_kw(choices[key]))
    ch = choices[key]
    acc = float(learn.validate(dl=dls.test_dl(valid, with_labels=True))[1])
    return dict(accuracy=acc, epochs=ch['epochs'], lr=ch['lr'], options=ch['options'], **_head(ch), image_passes=ch['epochs'] * len(trn))

def choose(side:str, trials:list, c:AttrDict, epochs:int, fit=None, log=noop) -> tuple:
    """`converge` for `side`, once per head of the rule where the side has our head (`head_sides`), else once: each replays the `trials`
    recorded for it and trains with `fit` those it lacks (no `fit`: KeyError). The best held-out accuracy wins, the first head on a tie:
    (its learner, its trial, every trial made), a trial naming its head"""
    best, every = None, []
    for h in (c.get('heads') if side in head_sides else None) or (None,):
        tag = (lambda o, h=h: {**o, 'head': h}) if h else (lambda o: o)
        train = replayed([o for o in trials if o.get('head') == h], c.options, fit and (partial(fit, head=h) if h else fit))
        learn, trial, made = converge(train, epochs, c.ft_lr, c.lr_factors, c.options, max_epochs=c.max_mult * epochs, patience=c.patience,
                                      edge_steps=c.get('edge_steps', 0), log=lambda o: log(tag(o)))
        every += [tag(o) for o in made]
        if best is None or trial['held_out'] > best[1]['held_out']: best = learn, tag(trial)
    return best[0], best[1], every

class _Recorded:
    "A trial as `converge` sees a trained classifier: its held-out accuracy, recorded"
    def __init__(self, acc): self.acc = acc
    def validate(self): return [0., self.acc]
    def no_bar(self): return contextlib.nullcontext()

def replayed(trials:list, options:tuple, fit=None):
    "`converge`'s `train` that gives a trial recorded in `trials` its held-out accuracy again, and trains with `fit` one it lacks (no `fit`: KeyError)"
    held = {(t['epochs'], t['lr'], tuple(t['options'])): t['held_out'] for t in trials}
    def replay(epochs, lr, **opts):
        key = (epochs, lr, tuple(o for o in options if opts.get(o)))
        if key in held: return _Recorded(held[key])
        if fit is None: raise KeyError(key)
        return fit(epochs, lr, **opts)
    return replay

def kept_runs(old:dict, cfg:dict, n_pool:int, c:AttrDict) -> tuple:
    """The runs, choices and unfinished selections of the results `old` that still stand under the settings `cfg`: a changed setting voids
    only the sides that read it. Converged runs, choices and trials of the sides with our head name it (before `heads`: the profile's)"""
    new, prior = json.loads(json.dumps(cfg)), old.get('config')
    if prior is None or old.get('pool') != n_pool or any(k not in new or new[k] != v for k, v in prior.items() if k not in own_keys and k not in unread_keys):
        return [], {}, {}
    old, converged = json.loads(json.dumps(old)), c.protocol == 'converged'  # the caller's stays as it was
    if converged:  # the head of every run, choice and trial of a side with our head: before `heads`, the profile's
        for r in (*old['runs'], *old.get('pending', ())):
            if r['side'] in head_sides: r.setdefault('head', prior.get('head'))
        for k, o in (*old.get('choices', {}).items(), *old.get('selecting', {}).items()):
            if k.split('@')[0] in head_sides:
                for t in ([o] if 'options' in o else []) + o['trials']: t.setdefault('head', prior.get('head'))
    # settings added since do not void earlier runs; a changed setting that only some sides read voids only their runs (not the
    # converged runs' head: each names its own, and `merged_runs` chooses among the heads of the rule)
    voided = {side for k, ss in own_keys.items() if prior.get(k, new.get(k)) != new.get(k) and not (converged and k == 'head') for side in ss}
    return ([r for r in (*old['runs'], *old.get('pending', ())) if r['side'] not in voided], *({k: v for k, v in old.get(f, {}).items() if k.split('@')[0] not in voided}
                                                                  for f in ('choices', 'selecting')))

def _same(a:dict, b:dict) -> bool:
    "Whether the runs or choices `a` and `b` train the same classifier the same way"
    return all(a.get(k) == b.get(k) for k in ('epochs', 'lr', 'options', 'head'))

def merged_runs(files:list, cfg:dict, n_pool:int, c:AttrDict, log=print) -> tuple:
    """The runs, choices and unfinished selections that stand under the settings `cfg`, from earlier results `files` ((source, results) pairs:
    this run's own first, source None, then `--runs-from`'s, whose runs are marked with it). Under the converged protocol each side's choice at
    each fraction is made again by the rule as it is now, replaying the trials that any of the files recorded for it (the rule may have
    changed since, or another file tried what this one did not: another head); the runs kept are those made with that choice, each seed from
    the first file that has it. A side built on another's choice (`dependents`) keeps only what a file made where that choice still stands.
    A choice that needs a trial no file has is left to the run, with the trials recorded so far; its runs wait in `pending` for the choice
    (`converged_run` takes those made with it). Returns (runs, choices, selecting, pending)"""
    kept = [(src, *kept_runs(o, cfg, n_pool, c)) for src, o in files]
    mark = lambda r, src: {**r, 'source': r.get('source', str(src))} if src else r
    if c.protocol != 'converged':  # a side at a fraction comes whole from one file
        runs = []
        for src, rs, _, _ in kept:
            new = {(r['side'], r['frac']) for r in rs} - {(r['side'], r['frac']) for r in runs}
            runs += [mark(r, src) for r in rs if (r['side'], r['frac']) in new]
        return runs, {}, {}, []
    parents = {d: [p for p, ds in dependents.items() if d in ds] for ds in dependents.values() for d in ds}
    runs, choices, selecting, pending, anew = [], {}, {}, [], []
    keys = dict.fromkeys(k for _, rs, chs, sel in kept for k in (*chs, *sel, *(f"{r['side']}@{r['frac']:g}" for r in rs)))
    for key in sorted(keys, key=lambda k: k.split('@')[0] in parents):  # the choices the others are built on first
        side, frac = key.split('@')
        stands = [(fi, (src, rs, chs.get(key), sel.get(key))) for fi, (src, rs, chs, sel) in enumerate(kept)
                  if all(_same(chs.get(f'{p}@{frac}', {}), choices.get(f'{p}@{frac}', {})) for p in parents.get(side, ()))]
        chosen, e0 = None, next((ch['base_epochs'] for _, (_, _, ch, _) in stands if ch), None)
        if has_choice := any(ch or sel for _, (_, _, ch, sel) in stands):
            trials, seconds = [], 0.
            for _, (_, _, ch, sel) in stands:  # a file's selection seconds count where it adds trials
                if (o := ch or sel) and (new := [t for t in o['trials'] if t not in trials]): trials += new; seconds += o.get('selection_seconds', o.get('seconds', 0.))
            try: chosen = choose(side, trials, c, e0)[1] if e0 else None  # replayed: a trial not recorded raises KeyError
            except KeyError: pass
            if chosen is None: selecting[key] = dict(trials=trials, seconds=round(seconds, 1))
            else:
                ch0 = next(ch for _, (_, _, ch, _) in stands if ch)
                per = ch0['selection_image_passes'] / sum(t['epochs'] for t in ch0['trials'])  # labelled images of the first seed
                choices[key] = dict(chosen, base_epochs=e0, trials=trials, selection_image_passes=round(sum(t['epochs'] for t in trials) * per),
                                    selection_seconds=round(seconds, 1))
            if kept[0][2].get(key) and not _same(kept[0][2][key], choices.get(key, {})): anew.append(f"{key} ({'to choose with more trials' if chosen is None else 'a new choice'})")
        elif side not in parents: continue  # runs without a choice, and not built on another's: nothing stands for them
        seeds = set()
        for fi, (src, rs, _, _) in stands:  # a side built on another's and without a choice of its own (`scratch_equal`): its runs where that stands
            mine = [r for r in rs if f"{r['side']}@{r['frac']:g}" == key]
            new = [r for r in mine if r['seed'] not in seeds and (not has_choice or chosen and _same(r, chosen))]
            runs += [(fi, rs.index(r), mark(r, src)) for r in new]; seeds |= {r['seed'] for r in new}
            if chosen is None and has_choice: pending += [mark(r, src) for r in mine if r not in pending]  # they wait for the choice
    if anew: log(f"  the rule as it is now does not choose as before for {', '.join(anew)}: their runs are made again")
    return [r for *_, r in sorted(runs, key=lambda o: o[:2])], choices, selecting, pending  # in the order the files had them

def _log(msg:str): print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

def run_dataset(name:str, c:AttrDict, out_dir:Path, cache:Path, seeds:int, fracs, kw:dict, fresh:bool=False, log=_log, meta:dict=None,
                only:tuple=sides, runs_from=()) -> dict:
    "Pre-train (or load the cached encoder), then train every side at every fraction and seed; results written after every run"
    path = resolve_data(name)
    pool = pool_of(path, c.n_pool)
    converged = c.protocol == 'converged'
    # converged: the held-out images are out of every labelled subset (pre-training still sees them, unlabelled, like every training image)
    label_pool, tune = hold_out(pool, c.n_tune, seed=c.tune_seed) if converged else (pool, None)
    vfiles = L(sorted(get_image_files(path/valid_folder(path)), key=str))
    valid = vfiles if c.n_valid is None or c.n_valid >= len(vfiles) else vfiles[np.random.default_rng(0).permutation(len(vfiles))[:c.n_valid]]
    cfg = {k: v for k, v in c.items() if k != 'datasets'}
    res = dict(meta=meta, protocol=c.protocol, dataset=Path(name).name, path=str(path), config=cfg, declared_side=declared_side,
               sides=list(converged_sides if converged else sides), runs=[], choices={})
    stem = out_dir/results_stem(c.profile, res['dataset'], c.protocol)
    partial = stem.with_suffix('.partial.json')  # the runs so far; the results files are written when every run is done
    old = next((json.loads(f.read_text()) for f in (partial, stem.with_suffix('.json')) if f.exists() and not fresh), {})
    save = lambda: partial.write_text(json.dumps(res, indent=1, default=str))  # an interrupted run keeps what it measured
    others = [(f, json.loads(Path(f).read_text())) for f in runs_from]  # other results files (a lead's, say)
    res['runs'], res['choices'], res['selecting'], res['pending'] = merged_runs([(None, old), *others], cfg, len(pool), c, log)
    res['summary'] = summarise(res['runs'], res['choices'])  # the partial file is whole from its first save on
    log(f"{name}: {len(pool)} training images (pre-training{', ' + str(len(label_pool)) + ' of them the label pool, ' + str(len(tune)) + ' held out to choose settings' if converged else ' and label pool'}), "
        f"{len(valid)} validation images, {c.size} px, {c.patch_size} px patches; {len(res['runs'])} runs already done")
    enc, secs = encoder_file(path, pool, c, cache)
    res.update(pool=len(pool), label_pool=len(label_pool), n_tune=0 if tune is None else len(tune), n_valid=len(valid), encoder=str(enc), pretrain_seconds=secs)
    log(f"  encoder {enc} ({f'pre-trained in {secs:.0f} s' if secs else 'cached'})")
    ft_kw = {**kw, 'num_workers': c.ft_workers} if c.ft_workers is not None else kw
    if ft_kw.get('num_workers'): ft_kw['persistent_workers'] = True  # no new worker processes at every epoch
    if res['runs'] and (same := [o for o in (old, *(o for _, o in others)) if 'probes' in o and o.get('encoder') == str(enc)]): res['probes'] = same[0]['probes']
    else:
        full = labelled_dls(pool, valid, size=c.size, bs=min(c.ft_bs, len(pool)), **ft_kw)
        torch.manual_seed(0)
        res['probes'] = {k: dict(linear=linear_probe(full, e, patch_size=c.patch_size), knn=knn_accuracy(full, e, patch_size=c.patch_size))
                         for k, e in (('cpc', enc), ('random', c.arch))}
    log(f"  frozen encoder, 100% labels: {res['probes']}")
    run_peers = [s for s in only if s in peer_sides]
    try: res['peers'] = {s: str(peer_file(s, c)) for s in run_peers}  # before any run: a missing backbone stops here
    except FileNotFoundError as e: sys.exit(f"label_efficiency: {e}")
    if converged:  # the FLOPs of every side, and of those with our head with each head of the rule
        res['flops'] = compute_costs(pool, label_pool, tune, enc, c, (*converged_sides, *run_peers))
        for h in c.get('heads') or ():
            if h != c.head: res['flops'].setdefault('per_head', {})[h] = compute_costs(pool, label_pool, tune, enc, AttrDict(c, head=h), ('cpc_finetune', 'cpc_frozen', 'scratch'))['per_image']
        for fpi in (res['flops']['per_image'], *res['flops'].get('per_head', {}).values()):  # the sides counted from others'
            fpi.update(scratch_equal=fpi['scratch'], cpc_lpft=(fpi['cpc_frozen'] + fpi['cpc_finetune']) / 2)  # half its epochs frozen
            if 'cpc_distill' in only:  # one labelled step, and per labelled image mu unlabelled ones through the student (a step) and the teacher (a forward, a third of one)
                fpi['cpc_distill'] = fpi['cpc_finetune'] * (1 + c.mu * 4 / 3)
    res['sides'] = list(dict.fromkeys(res['sides'] + [s for s in only if s in opt_in_sides] + [r['side'] for r in res['runs']]))
    done = {(r['side'], r['frac'], r['seed']) for r in res['runs']}
    for frac in fracs:
        for seed in range(n_seeds(frac, seeds)):
            trn = label_subset(label_pool, frac, seed=seed)
            dls = labelled_dls(trn, tune if converged else valid, size=c.size, bs=min(c.ft_bs, len(trn)), **ft_kw)
            epochs = ft_epochs(len(trn), dls.bs, c.min_epochs, c.min_steps)
            for side in only:
                if ((side, frac, seed) in done or (side in fixmatch_sides and (frac > c.fixmatch_max_frac or converged))
                    or (side in ('cpc_distill', 'scratch_equal') and not converged) or (side == 'scratch_equal' and seed > 0)): continue
                set_seed(seed); t = time.time()
                if converged: out = converged_run(side, frac, seed, trn, dls, valid, enc, c, epochs, res['choices'], log, pool=pool,
                                                num_workers=ft_kw.get('num_workers'), flops=res['flops'], selecting=res['selecting'], save=save, pending=res['pending'])
                else: out = dict(epochs=epochs, **train(classifier(side, dls, enc, c, pool, ft_kw.get('num_workers')), side, epochs, c))
                if 'side' in out: res['runs'].append(out)  # made before with the choice made now
                else: res['runs'].append(dict(side=side, frac=frac, seed=seed, labels=len(trn), **out, seconds=round(time.time() - t, 1),
                                              device=(meta or {}).get('device')))  # a resumed run may finish on another machine
                fm = f", confident {out['confident']:.2f}, pseudo-labels right {out['pseudo_acc']:.2f}" if 'confident' in out else ''
                how = f", lr {out['lr']:.2g}{''.join(', ' + o for o in out['options'])}" if converged else ''
                log(f"  {side:12s} {frac:>5.0%} seed {seed}: {len(trn)} labels, {out['epochs']} epochs{how}, accuracy {out['accuracy']:.4f}{fm}, {res['runs'][-1]['seconds']:.0f} s")
                res['summary'] = summarise(res['runs'], res['choices'])
                save()
    res['summary'] = summarise(res['runs'], res['choices'])
    for k in ('selecting', 'pending'):
        if not res[k]: del res[k]  # every selection finished, every run made before adopted
    return res

def results_stem(profile:str, dataset:str, protocol:str) -> str:
    "`<profile>-<dataset>`, and `-converged` for the converged protocol"
    return f"{profile}-{dataset}{'-converged' if protocol == 'converged' else ''}"

def compute_costs(pool:L, label_pool:L, tune:L, enc:Path, c:AttrDict, which=converged_sides) -> dict:
    "FLOPs per image of a pre-training step and of each side's training step, and the pre-training's total"
    pre = cpc_learner(cpc_dls(pool[:4 * c.bs], size=c.size, patch_size=c.patch_size, bs=c.bs, num_workers=0), c.arch, n_dirs=c.n_dirs)
    pre_fpi = flops_per_image(pre)
    few = label_subset(label_pool, n_per_class=2, seed=0)  # FLOPs per image do not depend on the batch size
    dls = labelled_dls(few, tune, size=c.size, bs=len(few), num_workers=0)
    sides = {}
    for side in which:
        learn = classifier(side, dls, enc, c)
        if side == 'cpc_frozen': learn.freeze()
        sides[side] = flops_per_image(learn)
    n_pre = round(len(pool) * (1 - 0.05))  # `cpc_dls` holds out 5% to track the pre-training loss
    return dict(pretrain_per_image=pre_fpi, pretrain_total=pre_fpi * n_pre * c.pre_epochs, per_image=sides)

def _stats(accs) -> dict:
    a = np.array(accs)
    return dict(mean=float(a.mean()), std=float(a.std(ddof=1)) if len(a) > 1 else 0., n=len(a))

def summarise(runs:list, choices:dict|None=None) -> list:
    """Per fraction: mean, spread and n of every side, `chosen_side` where both CPC sides have a choice with a held-out score,
    and each CPC side's label-efficiency factor against scratch and fastai"""
    rows = []
    for frac in sorted({r['frac'] for r in runs}):
        row = dict(frac=frac, labels=first(r['labels'] for r in runs if r['frac'] == frac))
        for side in sides:
            accs = [r['accuracy'] for r in runs if r['frac'] == frac and r['side'] == side]
            if accs: row[side] = _stats(accs)
        held = {side: (choices or {}).get(f'{side}@{frac:g}', {}).get('held_out') for side in cpc_sides}
        held = {side: h for side, h in held.items() if h is not None and side in row}
        if {'cpc_finetune', 'cpc_frozen'} <= set(held):
            pick = max(held, key=held.get)
            row[chosen_side] = dict(row[pick], side=pick)
        rows.append(row)
    for r in rows:  # the better from-scratch side at each fraction
        if 'scratch' in r and 'fastai' in r: r['best_scratch'] = max((r['scratch'], r['fastai']), key=lambda o: o['mean'])
    for base in ('scratch', 'fastai', 'best_scratch'):
        sup = {r['frac']: r[base]['mean'] for r in rows if base in r}
        if not sup: continue
        for r in rows:
            for side in (*cpc_sides, chosen_side):
                if side in r: r.setdefault('factors', {}).setdefault(side, {})[base] = efficiency_factor(r['frac'], r[side]['mean'], sup)
    return rows

def _devices(res:dict) -> str:
    "The device, or each device with its number of runs when an interrupted run was resumed on another machine"
    n = Counter(r.get('device') or res['meta']['device'] for r in res['runs'])
    return res['meta']['device'] if len(n) < 2 else ', '.join(f"{d} ({k} runs)" for d, k in n.items())

def _pm(s:dict|None) -> str:
    if s is None: return ''
    return f"{s['mean']:.3f} ± {s['std']:.3f}" if s['n'] > 1 else f"{s['mean']:.3f}"

def _factor(f) -> str: return '' if f is None else f"{'' if f[1] == '=' else f[1]}{f[0]:.2f}x"
def _n(k:int, word:str) -> str: return f"{k} {word}{'' if k == 1 else 's'}"

def _gflop(x:float) -> str: return f"{x / 1e9:,.0f}" if x >= 1e10 else f"{x / 1e9:.1f}"

def _sources(res:dict) -> list:
    "A line for each results file some runs were taken from (`--runs-from`), naming them"
    by_file = groupby([r for r in res['runs'] if 'source' in r], lambda r: r['source'])  # fastcore's: {file: its runs}
    return [f"- taken from `{f}` (`--runs-from`: the same settings, the same encoder): " + ', '.join(sorted({f"{r['side']} at {r['frac']:.0%}" for r in rs}))
            for f, rs in sorted(by_file.items())]

def to_markdown_converged(res:dict) -> str:
    "The results file of the converged protocol: what was run, where, the table, every choice and the compute of every side"
    m, c, fl = res['meta'], res['config'], res['flops']
    peers = [s for s in opt_in_sides if s in res.get('sides', [])]  # the opt-in sides' columns, where they ran
    lines = [f"# Label efficiency, `{m['profile']}` profile, {res['dataset']}: every side trained to convergence", "",
             f"- command: `{m['command']}`", f"- device: {_devices(res)}",
             f"- versions: " + (v if isinstance(v := m['versions'], str) else ', '.join(f'{k} {x}' for k, x in v.items())), f"- commit: `{m['commit']}`", f"- date: {m['date']}",
             f"- data: {res['pool']} training images pre-trained on (labels unused); {res['n_tune']} of them ({c['n_tune']} per class) held out of every "
             f"labelled subset, their labels used only to choose each side's settings, the same for every side; the label pool is the other "
             f"{res['label_pool']} (100% = all of them); {res['n_valid']} validation images, never seen before the final evaluation; {c['size']} px, {c['patch_size']} px patches; {'bf16 mixed precision (pre-training and every side)' if c.get('bf16') else 'fp32'}",
             f"- pre-training: encoder `{c['arch']}`, {c['pre_epochs']} epochs, batch {c['bs']}, lr {c['lr']}, {c['n_dirs']} directions "
             f"({res['pretrain_seconds']:.0f} s in this run; 0 means the cached encoder `{Path(res['encoder']).name}`)",
             *_sources(res),
             f"- the rule, the same for every side and fixed before any run (`fastai_cpc.converge.converge`, on the first seed's subset, "
             f"scored on the held-out images): the learning rate {c['ft_lr']} times 1, {', '.join(f'{f:.3g}' for f in c['lr_factors'])} at the fixed "
             f"rule's epochs (max({c['min_epochs']}, enough for {c['min_steps']} steps of batch {c['ft_bs']}))"
             + (f", the grid going on past whichever edge holds the best rate while it keeps winning (at most {c['edge_steps']} more rates)" if c.get('edge_steps') else '')
             + f"; then the epochs doubled until {c['patience']} "
             f"doublings in a row bring no better held-out accuracy (at most {c['max_mult']}x); then {' and '.join(c['options'])} in turn, each kept if it raises it"
             + (f"; the CPC sides and `scratch` run all this once for each head, {' and '.join(c['heads'])}, and keep the better (`linear`: pooled latents, "
                "batch norm, a linear layer; `resnet`: two pre-activation residual blocks on the latent grid first)" if c.get('heads') else '')
             + f". The other seeds train with "
             f"the first seed's choice. `cpc_finetune`: `fine_tune` (lr_mult={c['lr_mult']}); `cpc_frozen`: the encoder frozen; `scratch`: the same "
             f"classifier from random weights, one cycle; `fastai`: `vision_learner({c['fastai_arch']}, pretrained=False)`, one cycle" + ('' if c.get('heads') else f"; head `{c['head']}`"),
             f"- declared side (judged by the bar): `{res['declared_side']}`; factors against the better from-scratch side at each fraction. "
             f"`{chosen_side}` (no runs of its own, defined after the first results): at each fraction the CPC side (fine-tuned, frozen, or `cpc_lpft` where it ran) whose "
             f"choice scored better on the held-out training images (named in brackets), so the validation images choose nothing",
             *([f"- peers (SimCLR and BYOL: `fastai_cpc.peers`, lightly's own parts, at lightly's CIFAR-10 benchmark settings): " + ', '.join(f"`{s}` fine-tunes `{Path(f).name}` from `{Path(f).parent}`" for s, f in res['peers'].items())
                + ", each pre-trained by `benchmarks/pretrain_efficiency.py` for its compute budget (that folder's name)"] if res.get('peers') else []),
             *([f"- the second view, at equal total compute: `scratch_equal` is `scratch` with its chosen rate and regularisers, trained (first "
                f"seed only) for as many FLOPs as CPC spent at that fraction, pre-training included (its epochs in the JSON's runs); "
                f"the factors do not use it"] if 'scratch_equal' in peers else []),
             "",
             f"| labels | images | CPC fine-tuned | CPC frozen | scratch | fastai {c['fastai_arch']} | " + ''.join(f"{_labels[s]} | " for s in peers) +
             f"{declared_side} - best from scratch | factor vs best from scratch | {chosen_side} | {chosen_side} - best from scratch | its factor |",
             "|---" * (11 + len(peers)) + "|"]
    for r in res['summary']:
        d, b, fs = r.get(declared_side), r.get('best_scratch'), r.get('factors', {}).get(declared_side, {})
        diff = f"{d['mean'] - b['mean']:+.3f}" if d and b else ''
        ch = r.get(chosen_side)
        ch_cells = (f"{_pm(ch)} ({ch['side'].split('_')[1]}) | {ch['mean'] - b['mean']:+.3f} | {_factor(r['factors'][chosen_side].get('best_scratch'))} |"
                    if ch and b else f"{_pm(ch)} | | |")
        lines.append(f"| {r['frac']:.0%} | {r['labels']} | {_pm(d)} | {_pm(r.get('cpc_frozen'))} | {_pm(r.get('scratch'))} | {_pm(r.get('fastai'))} | "
                     + ''.join(f"{_pm(r.get(s))} | " for s in peers) + f"{diff} | {_factor(fs.get('best_scratch'))} | {ch_cells}")
    lines += ["", "Mean ± sample standard deviation over seeds. Factor: the smallest fraction at which the better from-scratch side reaches the "
              "CPC side's accuracy (log-linear interpolation), over the CPC fraction; `>` a lower bound, `<=` an upper one.", "",
              "What the rule chose, and what it cost (GFLOP: torch's count of one training step, forward and backward, times the images "
              f"trained on; pre-training, {_gflop(fl['pretrain_total'])} GFLOP in all ({fl['pretrain_per_image'] / 1e6:.1f} MFLOP per image), is spent once for "
              "every fraction and both CPC sides):", "",
              "| side | labels | head | epochs (fixed rule's) | lr | regularisers | held-out accuracy | selection GFLOP | final run GFLOP | seconds of selection |",
              "|---" * 10 + "|"]
    for key, ch in res['choices'].items():
        side, frac = key.split('@')
        n = next(r['labels'] for r in res['runs'] if r['side'] == side and r['frac'] == float(frac))
        head = ch.get('head') or res['choices'].get(f'cpc_finetune@{frac}', {}).get('head') if side == 'cpc_distill' else ch.get('head')  # the teacher's
        fpi = per_image(fl, side, head)
        lines.append(f"| {side} | {float(frac):.0%} ({n}) | {head or 'its own'} | {ch['epochs']} ({ch['base_epochs']}) | {ch['lr']:.2g} | {', '.join(ch['options']) or 'none'} | "
                     f"{ch['held_out']:.3f} | {_gflop(ch['selection_image_passes'] * fpi)} | {_gflop(ch['epochs'] * n * fpi)} | {ch['selection_seconds']:.0f} |")
    pr = res['probes']
    lines += ["", "| frozen encoder, 100% labels | linear probe | kNN (k=20) |", "|---|---|---|",
              f"| CPC pre-trained | {pr['cpc']['linear']:.3f} | {pr['cpc']['knn']:.3f} |",
              f"| random init | {pr['random']['linear']:.3f} | {pr['random']['knn']:.3f} |", ""]
    return '\n'.join(lines + [f"{n}\n" for n in res.get('notes', [])])

def to_markdown(res:dict) -> str:
    "The results file: what was run, where, and the table"
    if res.get('protocol') == 'converged': return to_markdown_converged(res)
    m, c = res['meta'], res['config']
    fm = any(r['side'] in fixmatch_sides for r in res['runs'])  # their columns only where they ran
    fm_text = (f"; `cpc_fixmatch`, `scratch_fixmatch`: `cpc_finetune` and `scratch` with the `FixMatch` callback (mu={c['mu']}, threshold "
               f"{c['threshold']}, lambda_u {c['lambda_u']}; every training image again, unlabelled), at {c['fixmatch_max_frac']:.0%} and below") if fm else ''
    lines = [f"# Label efficiency, `{m['profile']}` profile, {res['dataset']}: one short schedule for every side (the fixed protocol)", "",
             "A schedule this short stops a network from random weights while it still climbs: these factors measure the schedule as much "
             "as the encoder (the converged protocol, `<profile>-<dataset>-converged.md`, trains every side as well as one rule can).", "",
             f"- command: `{m['command']}`", f"- device: {_devices(res)}",
             f"- versions: " + (v if isinstance(v := m['versions'], str) else ', '.join(f'{k} {x}' for k, x in v.items())), f"- commit: `{m['commit']}`", f"- date: {m['date']}",
             f"- data: {res['pool']} training images, pre-training (labels unused) and label pool alike (100% = all of them); "
             f"{res['n_valid']} validation images, never seen before evaluation; {c['size']} px, {c['patch_size']} px patches; {'bf16 mixed precision (pre-training and every side)' if c.get('bf16') else 'fp32'}",
             f"- pre-training: encoder `{c['arch']}`, {c['pre_epochs']} epochs, batch {c['bs']}, lr {c['lr']}, {c['n_dirs']} directions "
             f"({res['pretrain_seconds']:.0f} s in this run; 0 means the cached encoder `{Path(res['encoder']).name}`)", *_sources(res),
             f"- every side: the same subsets (stratified; {_n(max(r['seed'] for r in res['runs']) + 1, 'seed')} at 10% and below, one above), "
             f"epochs = max({c['min_epochs']}, enough for {c['min_steps']} steps of batch {c['ft_bs']}), one-cycle at lr {c['ft_lr']} "
             f"(fixed, not tuned on validation images); head `{c['head']}` for the CPC sides and scratch. `cpc_finetune`: `fine_tune` "
             f"with lr_mult={c['lr_mult']} (one epoch for the head, then all layers); `cpc_frozen`: encoder frozen, head trained; "
             f"`scratch`: the same classifier from random weights; `fastai`: `vision_learner({c['fastai_arch']}, pretrained=False)`{fm_text}",
             f"- declared side (judged by the bar): `{res['declared_side']}`", "",
             f"| labels | images | CPC fine-tuned | CPC frozen | scratch | fastai {c['fastai_arch']} |{' CPC + FixMatch | scratch + FixMatch |' if fm else ''} "
             f"{declared_side} - scratch | factor vs scratch | factor vs fastai |", "|---" * (9 + 2 * fm) + "|"]
    for r in res['summary']:
        d, s, fs = r.get(declared_side), r.get('scratch'), r.get('factors', {}).get(declared_side, {})
        diff = f"{d['mean'] - s['mean']:+.3f}" if d and s else ''
        fms = ''.join(f" {_pm(r.get(k))} |" for k in fixmatch_sides) if fm else ''
        lines.append(f"| {r['frac']:.0%} | {r['labels']} | {_pm(d)} | {_pm(r.get('cpc_frozen'))} | {_pm(s)} | {_pm(r.get('fastai'))} |{fms} {diff} | "
                     f"{_factor(fs.get('scratch'))} | {_factor(fs.get('fastai'))} |")
    pr = res['probes']
    lines += ["", "Mean ± sample standard deviation over seeds (n per side and fraction in the JSON's `summary`). Factor: the smallest "
              "fraction at which the baseline reaches the CPC side's accuracy (log-linear interpolation), over the CPC fraction; `>` when "
              "the baseline never reaches it (a lower bound), `<=` when its smallest fraction already does.",
              "", "| frozen encoder, 100% labels | linear probe | kNN (k=20) |", "|---|---|---|",
              f"| CPC pre-trained | {pr['cpc']['linear']:.3f} | {pr['cpc']['knn']:.3f} |",
              f"| random init | {pr['random']['linear']:.3f} | {pr['random']['knn']:.3f} |", ""]
    return '\n'.join(lines + [f"{n}\n" for n in res.get('notes', [])])  # `notes`: what the run left out or changed, in its JSON

_labels = {'cpc_finetune': 'CPC + fine_tune', 'cpc_frozen': 'CPC, frozen encoder', 'scratch': 'same classifier, from scratch', 'fastai': 'fastai xresnet, from scratch',
           'cpc_fixmatch': 'CPC + fine_tune + FixMatch', 'scratch_fixmatch': 'from scratch + FixMatch',
           'simclr_finetune': 'SimCLR (lightly) + fine_tune', 'byol_finetune': 'BYOL (lightly) + fine_tune',
           'cpc30_finetune': "CPC at the peers' budget + fine_tune", 'cpc_distill': 'CPC + fine_tune + distillation',
           'scratch_equal': "from scratch, CPC's compute", 'cpc_lpft': 'CPC, linear probe then fine_tune'}

def plot(res:dict, fname:Path):
    "Accuracy against labelled fraction on a log axis, every side, like the paper's Figure 1"
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for side in sides:
        rows = [r for r in res['summary'] if side in r]
        if not rows: continue
        ax.errorbar([r['frac'] * 100 for r in rows], [r[side]['mean'] for r in rows], yerr=[r[side]['std'] for r in rows],
                    marker='o', capsize=3, label=_labels[side].replace('xresnet', res['config']['fastai_arch']))
    fr = [r['frac'] * 100 for r in res['summary']]
    ax.set_xscale('log'); ax.set_xticks(fr); ax.set_xticklabels([f'{f:g}%' for f in fr])
    ax.set_xlabel('labelled training images'); ax.set_ylabel('validation accuracy'); ax.grid(alpha=.3); ax.legend(fontsize=8)
    ax.set_title(f"{res['dataset']}, {res['meta']['profile']} profile{', every side converged' if res.get('protocol') == 'converged' else ''}")
    fig.tight_layout(); fig.savefig(fname, dpi=100); plt.close(fig)

def write_results(res:dict, out_dir:Path) -> list:
    "`<profile>-<dataset>[-converged]` .json, .md and .png in `out_dir`"
    stem = out_dir/results_stem(res['meta']['profile'], res['dataset'], res.get('protocol', 'fixed'))
    stem.with_suffix('.json').write_text(json.dumps(res, indent=1, default=str))
    stem.with_suffix('.md').write_text(to_markdown(res))
    plot(res, stem.with_suffix('.png'))
    return [stem.with_suffix(s) for s in ('.json', '.md', '.png')]

@call_parse
def main(profile:str='cpu', # 'cpu' or 'gpu'
         protocol:str='converged', # 'converged' (each side's settings chosen on held-out training images) or 'fixed' (one schedule for all)
         datasets:str=None, # comma-separated data set names or folders; the profile's by default
         out:str=str(here/'results'), # folder for the results
         cache:str=str(here.parent/'models'/'label-efficiency'), # folder for the pre-trained encoders and their checkpoints
         seeds:int=3, # seeds at fractions of 10% and below
         fracs:str=None, # comma-separated label fractions; 0.01,...,1 by default
         n_pool:int=None, # training images to use (all if 0); the profile's by default
         n_valid:int=None, # validation images to use (all if 0)
         pre_epochs:int=None, # pre-training epochs
         min_epochs:int=None, # fewest fine-tuning epochs
         min_steps:int=None, # fewest fine-tuning steps
         n_tune:int=None, # converged protocol: training images per class held out to choose each side's settings
         max_mult:int=None, # converged protocol: at most this many times the fixed rule's epochs
         lr_mult:float=None, # the fine-tuned sides' encoder trains at the head's rate over this, after the head's epoch (`fine_tune`'s lr_mult)
         heads:str=None, # converged protocol: the heads the CPC sides and scratch choose among, comma-separated, of linear and resnet (both by default)
         bf16:bool_arg=None, # bf16 mixed precision instead of the profile's per data set (on a CPU `CPUMixedPrecision`: fast where it has AMX)
         size:int=None, # image side (the profile's per data set by default)
         patch_size:int=None, # patch side
         num_workers:int=None, # DataLoader workers (fastai's default if not given)
         fresh:store_true=False, # ignore the runs of an earlier, interrupted invocation with the same settings
         sides:str=None, # comma-separated sides to run (all but the peers by default), e.g. cpc_fixmatch,scratch_fixmatch or simclr_finetune,byol_finetune to add them to earlier results
         peer_cache:str=None, # folder of the peers' pre-trained backbones (benchmarks/pretrain_efficiency.py's cache; models/pretrain/<profile>-<dataset>-30min by default)
         peer_arch:str='resnet18', # the peers' backbone: lightly's CIFAR ResNet-18 (their published one), or our preset over the whole image
         runs_from:str=None, # comma-separated results files (a lead's) whose runs at this run's settings are kept, each marked with its source
        ):
    "Run the label-efficiency benchmark and write its results"
    if profile not in profiles: sys.exit(f"label_efficiency: unknown profile {profile!r}: use one of {', '.join(profiles)}")
    heads = tuple(heads.split(',')) if heads else None
    if bad := [h for h in heads or () if h not in ('linear', 'resnet')]: sys.exit(f"label_efficiency: unknown head {bad[0]!r}: use linear, resnet or both")
    if protocol not in ('converged', 'fixed'): sys.exit(f"label_efficiency: unknown protocol {protocol!r}: use converged or fixed")
    given = dict(n_pool=n_pool, n_valid=n_valid, pre_epochs=pre_epochs, min_epochs=min_epochs, min_steps=min_steps, size=size, patch_size=patch_size, bf16=bf16,
                 n_tune=n_tune, max_mult=max_mult, lr_mult=lr_mult, heads=heads)
    given = {k: v for k, v in given.items() if v is not None}
    fr = [float(f) for f in fracs.split(',')] if fracs else fractions
    only = tuple(sides.split(',')) if sides else tuple(s for s in globals()['sides'] if s not in opt_in_sides)  # the parameter hides the module's tuple of every side
    if bad := [o for o in only if o not in globals()['sides']]: sys.exit(f"label_efficiency: unknown side {bad[0]!r}: use some of {', '.join(globals()['sides'])}")
    froms = runs_from.split(',') if runs_from else []
    if missing := [f for f in froms if not Path(f).is_file()]: sys.exit(f"label_efficiency: --runs-from {missing[0]} is not a results file: give the .json (or .partial.json) a run wrote")
    out_dir = Path(out); out_dir.mkdir(parents=True, exist_ok=True)
    kw = dict(num_workers=ifnone(num_workers, defaults.cpus))
    for name in (datasets.split(',') if datasets else profiles[profile]['datasets']):
        c = settings(profile, name, protocol, **given, peer_arch=peer_arch,
                     peer_cache=peer_cache or str(here.parent/'models'/'pretrain'/f'{profile}-{Path(name).name}-30min'))
        for k in ('n_pool', 'n_valid'): c[k] = c[k] or None
        t, meta = time.time(), provenance('cuda' if torch.cuda.is_available() else 'cpu', profile=profile)  # the code as it was when the run started
        res = run_dataset(name, c, out_dir, Path(cache), seeds, fr, kw, fresh=fresh, meta=meta, only=only, runs_from=froms)
        res['meta'] = {**meta, 'seconds': round(time.time() - t, 1)}
        for f in write_results(res, out_dir): print(f"wrote {f}")
        (out_dir/f"{results_stem(profile, res['dataset'], protocol)}.partial.json").unlink(missing_ok=True)
