"""Put the committed benchmark results into the README's "## Results" section.

    python tools/results_readme.py && python tools/docs.py --readme

Rewrites the `## Results` markdown cell of nbs/index.ipynb (inserting it before `## Two commands` the first time)
from every benchmarks/results/<profile>-<dataset>.md, each file's text and its plot, as the benchmark wrote them.
The cell after it, with what the numbers mean, is written by hand.
"""
import json, uuid
from pathlib import Path

root = Path(__file__).resolve().parent.parent
index = root/'nbs'/'index.ipynb'
intro = ("Label efficiency, measured by `benchmarks/label_efficiency.py` (see *Benchmarks* below): each block is the results file "
         "the benchmark wrote, with the command that reproduces it, and its plot.")

def results_cell() -> str:
    "The markdown of the Results cell, from the results files"
    parts = ['## Results', intro]
    for md in sorted((root/'benchmarks'/'results').glob('*.md')):
        lines = md.read_text().strip().splitlines()
        parts.append('\n'.join(['### ' + lines[0].lstrip('# ')] + lines[1:]))
        parts.append(f'![{md.stem}](benchmarks/results/{md.stem}.png)')
    return '\n\n'.join(parts)

def main():
    nb = json.loads(index.read_text())
    heads = [''.join(c['source']).split('\n', 1)[0] for c in nb['cells']]
    cell = dict(cell_type='markdown', metadata={}, source=results_cell())
    if '## Results' in heads: nb['cells'][heads.index('## Results')].update(cell)
    else: nb['cells'].insert(heads.index('## Two commands'), {**cell, 'id': uuid.uuid4().hex[:8]})
    index.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

if __name__ == '__main__': main()
