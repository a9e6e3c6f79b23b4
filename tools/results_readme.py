"""Put the committed benchmark results into the README: pre-training and label efficiency in "## Results", throughput in "## Speed".

    python tools/results_readme.py && python tools/docs.py --readme

Rewrites the `## Results` markdown cell of nbs/index.ipynb from every benchmarks/results/pretrain-*.md
(benchmarks/pretrain_efficiency.py), finetune-rule-*.md (benchmarks/finetune_rule.py) and <profile>-<dataset>.md (benchmarks/label_efficiency.py), each file's text and its
plot, and the `## Speed` cell from every
benchmarks/results/throughput-<config>.md (benchmarks/throughput.py); each is inserted before `## Two commands` the
first time. The cells after them, with what the numbers mean, are written by hand.
"""
import json, uuid
from pathlib import Path

root = Path(__file__).resolve().parent.parent
index = root/'nbs'/'index.ipynb'
intro = ("Label efficiency, measured by `benchmarks/label_efficiency.py` (see *Benchmarks* below): each block is the results file "
         "the benchmark wrote, with the command that reproduces it, and its plot.")

pretrain_intro = ("Pre-training efficiency, measured by `benchmarks/pretrain_efficiency.py`: what a fixed budget of compute buys, "
                  "as the frozen encoder's kNN and linear-probe accuracy against a random encoder's, for every variant tried.")

rule_intro = ("How to fine-tune a CPC encoder on few labels, measured by `benchmarks/finetune_rule.py` on held-out *training* images "
              "(never the validation images): the rule the command line and the label-efficiency benchmark use comes from here.")

speed_intro = ("Pre-training speed, measured by `benchmarks/throughput.py` (see *Benchmarks* below): each block is the results file "
               "the benchmark wrote, with the command that reproduces it.")

def _block(md:Path) -> str:
    lines = md.read_text().strip().splitlines()
    return '\n'.join(['### ' + lines[0].lstrip('# ')] + [('#' + l if l.startswith('## ') else l) for l in lines[1:]])

def result_files(kind:str) -> list:
    "The committed results files of one benchmark: 'pretrain', 'finetune-rule', 'label-efficiency' or 'throughput'"
    files = sorted((root/'benchmarks'/'results').glob('*.md'))
    of = lambda f: next((k for k in ('pretrain', 'finetune-rule', 'throughput') if f.name.startswith(k + '-')), 'label-efficiency')
    return [f for f in files if of(f) == kind]

def results_cell() -> str:
    "The markdown of the Results cell (pre-training and label efficiency), from the results files"
    parts = ['## Results', pretrain_intro]
    for md in result_files('pretrain'): parts += [_block(md), f'![{md.stem}](benchmarks/results/{md.stem}.png)']
    for md in result_files('finetune-rule'): parts += [rule_intro, _block(md)]
    parts.append(intro)
    for md in result_files('label-efficiency'): parts += [_block(md), f'![{md.stem}](benchmarks/results/{md.stem}.png)']
    return '\n\n'.join(parts)

def speed_cell() -> str:
    "The markdown of the Speed cell (throughput), from the results files"
    return '\n\n'.join(['## Speed', speed_intro] + [_block(md) for md in result_files('throughput')])

def _put(nb:dict, text:str):
    heads = [''.join(c['source']).split('\n', 1)[0] for c in nb['cells']]
    cell = dict(cell_type='markdown', metadata={}, source=text)
    head = text.split('\n', 1)[0]
    if head in heads: nb['cells'][heads.index(head)].update(cell)
    else: nb['cells'].insert(heads.index('## Two commands'), {**cell, 'id': uuid.uuid4().hex[:8]})

def main():
    nb = json.loads(index.read_text())
    _put(nb, results_cell())
    if result_files('throughput'): _put(nb, speed_cell())
    index.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

if __name__ == '__main__': main()
