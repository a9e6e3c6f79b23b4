"""How to fine-tune a CPC encoder on few labels: the candidate rules compared on held-out *training* images.

    python -m benchmarks.finetune_rule --data imagenette --seeds 2

The `fastai-cpc` run size `cpu` pre-trains an encoder (cached in models/finetune-rule/; an interrupted pre-training
resumes), draws its labelled subset (`--frac` of the training labels), and trains a classifier on it with each rule.
Every rule is scored on `--n-holdout` training images outside the labelled subset, never on the validation folder,
so the rule chosen here can be used for the validation comparison without peeking. Each rule has the run size's
epochs budget (`ft_epochs` + 1) and learning rate (`ft_lr`); only the starting weights and which layers train how
fast differ.

Writes benchmarks/results/finetune-rule-<dataset>.md/.json (command, device, versions, commit and date).
This is a benchmark, not a test: it measures and reports.
"""
from __future__ import annotations
import json, sys, time
from fastcore.script import call_parse
from fastai_cpc.all import *  # fastai's vision API too
from fastai_cpc.recipes import resolve_data, run_pretrain, run_sizes
from .common import provenance

here = Path(__file__).resolve().parent
# name -> (start from the CPC encoder?, how to train for `epochs` epochs at `lr`)
RULES = {
    'scratch':            (False, lambda l, e, lr: l.fit_one_cycle(e, lr)),
    'fine_tune':          (True,  lambda l, e, lr: l.fine_tune(e - 1, lr)),               # fastai's default, lr_mult=100
    'fine_tune-lr_mult10': (True, lambda l, e, lr: l.fine_tune(e - 1, lr, lr_mult=10)),
    'fine_tune-lr_mult1': (True,  lambda l, e, lr: l.fine_tune(e - 1, lr, lr_mult=1)),   # every layer at the head's rate
    'one_cycle':          (True,  lambda l, e, lr: l.fit_one_cycle(e, lr)),                # the scratch schedule from CPC weights
    'frozen':             (True,  lambda l, e, lr: (l.freeze(), l.fit_one_cycle(e, lr))),  # the encoder never trains
}

def holdout_dls(path:Path, c:dict, frac:float, n_holdout:int, seed:int=0) -> DataLoaders:
    "The labelled subset of `run_job`, validated on `n_holdout` other training images"
    train = get_image_files(path/'train')
    labelled = label_subset(train, frac=frac, seed=seed)
    chosen = set(map(str, labelled))
    rest = L(f for f in sorted(train, key=str) if str(f) not in chosen)
    holdout = rest[np.random.default_rng(seed + 1).permutation(len(rest))[:n_holdout]]
    return labelled_dls(labelled, holdout, size=c["size"], bs=c["bs"])

def score(rule:str, dls:DataLoaders, enc_file:Path, c:dict, seed:int) -> float:
    "Holdout accuracy of the classifier `rule` trains"
    pretrained, train = RULES[rule]
    set_seed(seed)
    learn = cpc_classifier(dls, enc_file if pretrained else c['arch'], head=c['head'], patch_size=None if pretrained else c['patch_size'])
    with learn.no_bar(), learn.no_logging(): train(learn, c['ft_epochs'] + 1, c['ft_lr'])
    with learn.no_bar(): return float(learn.validate()[1])

def report(res:dict) -> str:
    m, c = res['meta'], res['run_size']
    lines = [f"# Fine-tuning rule, `cpu` run size, {res['dataset']}", ''] + [f"- {k}: {v}" for k, v in m.items() if k != 'command']
    lines.insert(2, f"- command: `{m['command']}`")
    lines += [f"- encoder: pre-trained by `run_pretrain` with the run size below, {res['pretrain_seconds']} s (0 if cached): `{res['encoder']}`",
              f"- run size: " + ', '.join(f'{k}={v}' for k, v in c.items()),
              f"- labelled subset: {res['labelled']} training images ({res['frac']:.0%}); scored on {res['holdout']} other training images (not the validation folder)",
              '', '| rule | accuracy per seed | mean |', '|---|---|---|']
    lines += [f"| {r} | {', '.join(f'{a:.3f}' for a in accs)} | {np.mean(accs):.3f} |" for r, accs in res['rules'].items()]
    return '\n'.join(lines) + '\n'

@call_parse
def main(data:str='imagenette', # data set name or a folder with train/<class>/
         rules:str=','.join(RULES), # comma-separated rules to compare
         seeds:int=2, # training seeds per rule (the labelled subset stays the same)
         frac:float=0.1, # fraction of the training labels
         n_holdout:int=2000, # training images outside the subset that score the rules
         out:str=str(here/'results'), # folder for the results
        ):
    "Compare ways of fine-tuning a CPC encoder on held-out training images"
    path, c = resolve_data(data), run_sizes['cpu'].settings()
    enc_dir = here.parent/'models'/'finetune-rule'
    name = f"{Path(data).name}-{c['arch']}-{c['size']}px-e{c['epochs']}"
    t = time.time()  # encoders cached by earlier versions (.pth) still count
    cached = [f for f in (enc_dir/f'{name}-encoder.safetensors', enc_dir/f'{name}-encoder.pth') if f.exists()]
    enc_file = cached[0] if cached else run_pretrain(path, out=enc_dir, name=name, resume=(enc_dir/f'{name}-last.pth').exists(), **c)
    dls = holdout_dls(path, c, frac, n_holdout)
    res = dict(meta=provenance(), dataset=Path(data).name, run_size=c, frac=frac, labelled=len(dls.train_ds), holdout=len(dls.valid_ds),
               encoder=str(enc_file.relative_to(here.parent)), pretrain_seconds=round(time.time() - t), rules={})
    for rule in rules.split(','):
        if rule not in RULES: raise SystemExit(f"unknown rule {rule!r}: use some of {', '.join(RULES)}")
        res['rules'][rule] = [score(rule, dls, enc_file, c, s) for s in range(seeds)]
        print(rule, res['rules'][rule], flush=True)
    stem = Path(out)/f"finetune-rule-{res['dataset']}"
    stem.with_suffix('.json').write_text(json.dumps(res, indent=1, default=str))
    stem.with_suffix('.md').write_text(report(res))
    print(report(res))
