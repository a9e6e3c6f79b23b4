"""Markdown from the notebooks, without Quarto (nbdev-readme and nbdev-docs need Quarto; this does not).

- `python tools/nb2md.py`: writes README.md from nbs/index.ipynb, and docs/<notebook>.md (with the
  notebooks' images in docs/images/) for every notebook.
- `python tools/nb2md.py --check`: exits 1 if README.md is not what nbs/index.ipynb gives.

Markdown cells are copied; code cells become ```python blocks followed by their text and image outputs.
Cells marked `#| hide` are left out, and nbdev's `#|` directive lines are dropped.
"""
import base64, json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
header = '<!-- Generated from nbs/{} by tools/nb2md.py: edit the notebook, not this file -->'

def _directives(src): return [l[2:].strip() for l in src.splitlines() if l.startswith('#|')]

def _outputs(outputs, img_dir, stem):
    "Markdown for a code cell's outputs: text in a fence, PNG images saved to `img_dir` and linked"
    parts, text = [], []
    for o in outputs:
        data = o.get('data', {})
        if o.get('output_type') == 'stream': text.append(''.join(o['text']))
        elif 'image/png' in data and img_dir is not None:
            img_dir.mkdir(parents=True, exist_ok=True)
            fn = img_dir/f'{stem}-{len(list(img_dir.glob(stem + "-*.png")))}.png'
            fn.write_bytes(base64.b64decode(data['image/png']))
            parts.append(f'![]({img_dir.name}/{fn.name})')
        elif 'text/plain' in data and 'text/html' not in data: text.append(''.join(data['text/plain']))
    text = ''.join(text).strip('\n')
    return ([f'```\n{text}\n```'] if text else []) + parts

def nb_to_md(nb_path, img_dir=None) -> str:
    "One notebook as markdown; images go to `img_dir` (left out if None)"
    nb_path = Path(nb_path)
    parts = [header.format(nb_path.name)]
    for c in json.loads(nb_path.read_text())['cells']:
        src = ''.join(c['source'])
        if 'hide' in _directives(src): continue
        if c['cell_type'] == 'markdown': parts.append(src.strip('\n'))
        elif c['cell_type'] == 'code':
            code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip('\n')
            if code: parts.append(f'```python\n{code}\n```')
            parts += _outputs(c.get('outputs', []), img_dir, nb_path.stem)
    return '\n\n'.join(parts) + '\n'

def readme() -> str: return nb_to_md(root/'nbs'/'index.ipynb')

def write_docs(dest=root/'docs'):
    imgs = dest/'images'
    for old in imgs.glob('*.png'): old.unlink()
    for nb in sorted((root/'nbs').glob('*.ipynb')):
        (dest/f'{nb.stem}.md').write_text(nb_to_md(nb, imgs))
    print(f'wrote {dest}')

if __name__ == '__main__':
    new, dest = readme(), root/'README.md'
    if '--check' in sys.argv:
        ok = dest.exists() and dest.read_text() == new
        print('README.md is up to date' if ok else 'README.md differs from nbs/index.ipynb: run python tools/nb2md.py')
        sys.exit(0 if ok else 1)
    dest.write_text(new)
    print(f'wrote {dest}')
    write_docs()
