"""The documentation site and README.md from `nbs/`, with no Quarto.

`nbdev-docs` does two things: nbdev's own notebook processing (`proc_nbs`: front matter from the first
heading, `#| hide` cells dropped, exported cells replaced by their `show_doc` entries, names in
backticks linked to their docs) and then Quarto's rendering. Quarto cannot always be installed, so this
runs the first step exactly as nbdev-docs does and replaces only the second:

- `python tools/docs.py`: writes the static site into `docs/` (one page per notebook, `index.html` from
  `nbs/index.ipynb`, navigation, API entries, images in `docs/images/`) and `README.md`. The site uses
  relative links only, so it opens from the file system and from `python -m http.server -d docs`.
- `python tools/docs.py --readme`: writes README.md only.
- `python tools/docs.py --check`: exits 1 if README.md is not what `nbs/index.ipynb` gives.

Maths (`$...$`, `$$...$$`) becomes MathML, which browsers draw natively, so no script is fetched.
"""
import base64, html, json, os, re, shutil, sys, tempfile
from pathlib import Path

import markdown, yaml
from latex2mathml.converter import convert as tex2mathml
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

root = Path(__file__).resolve().parent.parent
readme_header = '<!-- Generated from nbs/index.ipynb by tools/docs.py: edit the notebook, not this file -->'

# ---- nbdev's processing (what nbdev-docs runs before Quarto) ----

def process_nbs(dest:Path, file_glob:str='') -> Path:
    "Run nbdev's notebook processing for the docs into `dest`; returns the folder of processed notebooks"
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    os.chdir(root)
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    if not file_glob: nbdev_sidebar.__wrapped__()
    cache = proc_nbs(file_glob=file_glob, n_workers=0, force=True)
    if dest.exists(): shutil.rmtree(dest)
    shutil.copytree(cache, dest)
    return dest

def read_page(fn:Path):
    "A processed notebook's front matter (title, description, output-file) and its other cells"
    cells = json.loads(fn.read_text())['cells']
    fm = {}
    if cells and cells[0]['cell_type'] == 'raw':
        fm = yaml.safe_load(''.join(cells[0]['source']).strip().strip('-')) or {}
        cells = cells[1:]
    fm.setdefault('title', fn.stem)
    fm.setdefault('output-file', fn.stem + '.html')
    return fm, cells

def directives(src:str) -> dict:
    "Quarto cell options (`#| key: value`) of a code cell; a bare `#| flag` maps to True"
    res = {}
    for l in src.splitlines():
        if not l.startswith('#|'): continue
        k, _, v = l[2:].partition(':')
        res[k.strip()] = v.strip() if v else True
    return res

def is_off(d:dict, key:str) -> bool: return str(d.get(key, '')).lower() == 'false'

def code_of(src:str) -> str: return '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip('\n')

_ansi = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
def plain(text) -> str: return _ansi.sub('', ''.join(text) if isinstance(text, list) else text)

# ---- maths ----

_code_span = re.compile(r'(```.*?```|`[^`\n]*`)', re.S)
_display = re.compile(r'\$\$(.+?)\$\$', re.S)
_inline = re.compile(r'(?<![\\$\w])\$(?=\S)([^$\n]*?\S)\$(?![\d$])')

def protect_math(md:str):
    "Replace the maths outside code by placeholders; returns the text and {placeholder: MathML}"
    found = {}
    def sub(display):
        def f(m):
            key = f'MATHPLACEHOLDER{len(found)}X'
            found[key] = tex2mathml(m.group(1).strip(), display='block' if display else 'inline')
            return key
        return f
    parts = _code_span.split(md)
    for i in range(0, len(parts), 2): parts[i] = _inline.sub(sub(False), _display.sub(sub(True), parts[i]))
    return ''.join(parts), found

# ---- markdown to HTML ----

def slug(text:str, sep:str='-') -> str:
    "Pandoc's (and so Quarto's and nbdev's doc links') heading ids: `CPC.before_fit` -> `cpc.before_fit`"
    s = re.sub(r'[^\w\s.-]', '', html.unescape(re.sub(r'<[^>]+>', '', text))).strip().lower()
    s = re.sub(r'\s+', '-', s)
    return re.sub(r'^[^a-z]+', '', s) or 'section'

_md = markdown.Markdown(extensions=['fenced_code', 'tables', 'attr_list', 'md_in_html', 'codehilite', 'toc'],
                        extension_configs={'codehilite': {'guess_lang': False, 'css_class': 'highlight'},
                                           'toc': {'slugify': slug}})

def md2html(md:str) -> str:
    text, maths = protect_math(md)
    _md.reset()
    out = _md.convert(text)
    for k, v in maths.items(): out = out.replace(k, v)
    return out

def inline_md(md:str) -> str: return re.sub(r'^<p>(.*)</p>$', r'\1', md2html(md).strip(), flags=re.S)
def text_of(md:str) -> str: return html.escape(html.unescape(re.sub(r'<[^>]+>', '', inline_md(md))))

def code2html(code:str) -> str: return highlight(code, PythonLexer(), HtmlFormatter(cssclass='highlight'))

# ---- a page ----

class Page:
    "One processed notebook rendered to HTML; images are written to `site/images`"
    def __init__(self, fn:Path, site:Path):
        self.fn, self.site = fn, site
        self.fm, self.cells = read_page(fn)
        self.title, self.out = self.fm['title'], self.fm['output-file']
        self.n_img = 0

    def image(self, b64:str, alt:str) -> str:
        name = f'images/{Path(self.out).stem}-{self.n_img}.png'
        self.n_img += 1
        (self.site/name).write_bytes(base64.b64decode(b64))
        return f'<img src="{name}" alt="{html.escape(alt)}">'

    def output(self, o:dict, asis:bool) -> str:
        if o['output_type'] == 'stream': return f'<pre class="output">{html.escape(plain(o["text"]))}</pre>'
        if o['output_type'] == 'error': return f'<pre class="output error">{html.escape(plain(o["traceback"]))}</pre>'
        data = o.get('data', {})
        if 'image/png' in data: return self.image(data['image/png'], plain(data.get('text/plain', 'figure')))
        if 'text/markdown' in data and (asis or 'text/html' not in data):
            return md2html(plain(data['text/markdown'])) if asis else f'<div class="output">{md2html(plain(data["text/markdown"]))}</div>'
        if 'text/html' in data: return f'<div class="output html">{plain(data["text/html"])}</div>'
        if 'text/plain' in data: return f'<pre class="output">{html.escape(plain(data["text/plain"]))}</pre>'
        return ''

    def cell(self, c:dict) -> str:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown': return md2html(src)
        if c['cell_type'] != 'code': return ''
        d = directives(src)
        if is_off(d, 'include'): return ''
        parts = []
        code = code_of(src)
        if code and not is_off(d, 'echo'): parts.append(f'<div class="cell-code">{code2html(code)}</div>')
        if not is_off(d, 'output'):
            parts += [self.output(o, d.get('output') == 'asis') for o in c.get('outputs', [])]
        return '<div class="cell">\n' + '\n'.join(p for p in parts if p) + '\n</div>' if parts else ''

    def body(self) -> str:
        desc = self.fm.get('description')
        head = f'<h1 class="title">{inline_md(self.title)}</h1>' + (f'<p class="description">{inline_md(desc)}</p>' if desc else '')
        return unique_ids(head + '\n' + '\n'.join(filter(None, map(self.cell, self.cells))))

def unique_ids(body:str) -> str:
    "Cells are converted one by one, so a heading id can repeat (a section named after a function, then its API entry): the API entry keeps the id nbdev's links use, the others get a suffix"
    heads = list(re.finditer(r'<h[1-6] id="([^"]+)">', body))
    def is_api(m): return 'source</a>' in body[max(0, m.start()-400):m.start()]
    keep = {}
    for m in heads: keep[m.group(1)] = m if m.group(1) not in keep or (is_api(m) and not is_api(keep[m.group(1)])) else keep[m.group(1)]
    out, last, n = [], 0, {}
    for m in heads:
        if keep[m.group(1)] is m: continue
        n[m.group(1)] = n.get(m.group(1), 1) + 1
        out += [body[last:m.start(1)], f'{m.group(1)}-{n[m.group(1)]}']
        last = m.end(1)
    return ''.join(out) + body[last:]

# ---- the site ----

def cfg_urls():
    from nbdev.config import get_config
    cfg = get_config(str(root))
    return f"https://{cfg.doc_host.split('://')[-1]}{cfg.doc_baseurl}".rstrip('/') + '/', cfg.git_url.rstrip('/'), cfg.branch

def fix_links(body:str, pages:dict, site:Path) -> str:
    "Make every link work offline: doc links relative, notebooks to their pages, repository files copied or linked"
    doc_url, git_url, branch = cfg_urls()
    body = body.replace(f'href="{doc_url}', 'href="')
    def f(m):
        attr, url = m.group(1), m.group(2)
        if re.match(r'[a-z]+:|#|data:', url): return m.group(0)
        path, _, anchor = url.partition('#')
        name = Path(path).name
        if name in pages: return f'{attr}="{pages[name]}{"#"+anchor if anchor else ""}"'
        if path.endswith('.html') or not path or (site/path).exists(): return m.group(0)
        # relative to the notebook (nbs/), or to the repository root as README.md links are
        src = next((p.resolve() for p in (root/'nbs'/path, root/path) if p.exists()), root/path)
        rel = src.relative_to(root.resolve()).as_posix() if src.is_relative_to(root.resolve()) else path
        if src.is_file() and src.suffix.lower() in ('.png', '.jpg', '.jpeg', '.svg', '.gif'):
            dest = site/'files'/rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)
            return f'{attr}="files/{rel}"'
        return f'{attr}="{git_url}/blob/{branch}/{rel}"'
    return re.sub(r'(href|src)="([^"]*)"', f, body)

def toc(body:str) -> str:
    items = [(int(l), i, re.sub(r'<[^>]+>', '', t)) for l, i, t in re.findall(r'<h([23]) id="([^"]+)">(.*?)</h\1>', body, re.S)]
    if not items: return ''
    lis = ''.join(f'<li class="toc-h{l}"><a href="#{i}">{html.escape(html.unescape(t))}</a></li>' for l, i, t in items)
    return f'<nav class="toc"><h2>On this page</h2><ul>{lis}</ul></nav>'

def sidebar(pages:list, current:Page) -> str:
    lis = ''.join(f'<li><a href="{p.out}"{" class=active" if p is current else ""}>{inline_md(p.title)}</a></li>' for p in pages)
    return f'<nav class="sidebar" aria-label="Chapters"><ul>{lis}</ul></nav>'

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - {site_title}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="site.css"></head>
<body><header><a class="brand" href="index.html">{site_title}</a><span class="tagline">{tagline}</span>
<div class="search"><input id="search" type="search" placeholder="Search the docs" aria-label="Search the docs" autocomplete="off"><ul id="search-hits"></ul></div>
<a class="repo" href="{git_url}">Source</a></header>
<div class="layout">{sidebar}<main>{body}
<footer>{prev_next}<p class="generated">Generated from <code>nbs/{nb}</code> by <code>tools/docs.py</code>.</p></footer></main>{toc}</div>
<script src="search-index.js"></script><script src="search.js"></script>
</body></html>
"""

CSS = """
body{margin:0;font:16px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212529}
header{display:flex;gap:1.5em;align-items:baseline;padding:.7em 1.5em;background:#2780e3;color:#fff}
header a{color:#fff;text-decoration:none}.brand{font-weight:600;font-size:1.2em}.tagline{opacity:.85;flex:1}
.layout{display:flex;align-items:flex-start}
.sidebar,.toc{position:sticky;top:0;max-height:100vh;overflow:auto;padding:1.2em;font-size:.9em;flex:0 0 14em}
.sidebar ul,.toc ul{list-style:none;padding:0;margin:0}.sidebar li,.toc li{margin:.35em 0}
.sidebar a,.toc a{color:#495057;text-decoration:none}.sidebar a.active{color:#2780e3;font-weight:600}
.toc h2{font-size:1em;margin:0 0 .5em}.toc-h3{padding-left:1em}
main{flex:1;min-width:0;max-width:58em;padding:0 2em 3em}
h1.title{margin-bottom:.2em}.description{color:#6c757d;font-size:1.1em;margin-top:0}
a{color:#2780e3}code{font-size:.9em;background:#f6f8fa;padding:.1em .25em;border-radius:3px}
pre{overflow:auto;padding:.7em;border-radius:4px;font-size:.85em;line-height:1.4}
pre code{padding:0;background:none;font-size:inherit}.highlight pre{background:#f6f8fa}
.cell{margin:1em 0}.cell-code pre{background:#f6f8fa;border-left:3px solid #2780e3}
pre.output{background:#fff;border:1px solid #e9ecef}pre.error{color:#b00020}
img{max-width:100%;height:auto}table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #dee2e6;padding:.25em .6em;text-align:right}th{background:#f6f8fa}
.output.html{overflow:auto}footer{margin-top:3em;border-top:1px solid #dee2e6;font-size:.9em;color:#6c757d}
.prev-next{display:flex;justify-content:space-between}math[display=block]{margin:.8em 0}
.search{position:relative}#search{padding:.25em .5em;border:0;border-radius:3px;width:14em}
#search-hits{position:absolute;right:0;top:2.2em;z-index:10;list-style:none;margin:0;padding:0;width:28em;max-height:70vh;overflow:auto;
background:#fff;box-shadow:0 4px 16px rgba(0,0,0,.2);border-radius:4px}#search-hits:empty{display:none}
#search-hits a,#search-hits .none{display:block;padding:.35em .7em;color:#212529;text-decoration:none}#search-hits a:hover{background:#f6f8fa}
#search-hits small{color:#6c757d;margin-left:.5em}
"""

# Search that works offline: the index is a script (a `fetch` of JSON is refused on file:// pages), the matching is plain JS.
SEARCH_JS = """(function () {
  const box = document.getElementById('search'), hits = document.getElementById('search-hits');
  function score(e, q) {  // lower is better: the exact name (an API entry first), then a prefix, a part, the text after it
    const t = e.t.toLowerCase();
    if (t === q) return e.api ? 0 : 1;
    if (t.startsWith(q)) return 2;
    if (t.includes(q)) return 3;
    return e.x.toLowerCase().includes(q) ? 4 : -1;
  }
  box.addEventListener('input', function () {
    const q = box.value.trim().toLowerCase();
    hits.replaceChildren();
    if (!q) return;
    const found = window.SEARCH_INDEX.map(e => [score(e, q), e]).filter(s => s[0] >= 0).sort((a, b) => a[0] - b[0]).slice(0, 12);
    for (const [, e] of found) {
      const li = document.createElement('li'), a = document.createElement('a'), small = document.createElement('small');
      a.href = e.u; a.textContent = e.t; small.textContent = e.p;
      a.appendChild(small); li.appendChild(a); hits.appendChild(li);
    }
    if (!found.length) { const li = document.createElement('li'); li.className = 'none'; li.textContent = 'no match'; hits.appendChild(li); }
  });
  box.addEventListener('keydown', function (ev) {
    const a = hits.querySelector('a');
    if (ev.key === 'Enter' && a) window.location.href = a.href;
    if (ev.key === 'Escape') { box.value = ''; hits.replaceChildren(); }
  });
})();
"""

def search_entries(pages:list, bodies:list) -> list:
    "One search entry per page and per heading: its text, its address, whether it is an API entry, the words after it"
    out = []
    for p, b in zip(pages, bodies):
        title = html.unescape(text_of(p.title))
        out.append(dict(t=title, u=p.out, p='', api=False, x=html.unescape(text_of(p.fm.get('description', '')))))
        for m in re.finditer(r'<h([1-3]) id="([^"]+)">(.*?)</h\1>', b, re.S):
            after = html.unescape(re.sub(r'<[^>]+>', ' ', b[m.end():m.end() + 800]))
            out.append(dict(t=html.unescape(re.sub(r'<[^>]+>', '', m.group(3))).strip(), u=f'{p.out}#{m.group(2)}', p=title,
                            api='source</a>' in b[max(0, m.start() - 400):m.start()], x=' '.join(after.split())[:200]))
    return out

def build_site(proc:Path, # notebooks processed by `process_nbs`
               site:Path=root/'docs') -> list:
    "Render every processed notebook into the static site `site`; returns the pages written"
    order = yaml.safe_load((proc/'sidebar.yml').read_text())['website']['sidebar']['contents']
    if site.exists(): shutil.rmtree(site)
    (site/'images').mkdir(parents=True)
    pages = [Page(proc/nb, site) for nb in order]
    bodies = [p.body() for p in pages]
    by_nb = {p.fn.name: p.out for p in pages}
    _, git_url, _ = cfg_urls()
    index = next(p for p in pages if p.out == 'index.html')
    (site/'site.css').write_text(CSS + HtmlFormatter(cssclass='highlight').get_style_defs('.highlight'))
    for i, (p, b) in enumerate(zip(pages, bodies)):
        b = fix_links(b, by_nb, site)
        prev = f'<a href="{pages[i-1].out}">&larr; {inline_md(pages[i-1].title)}</a>' if i else '<span></span>'
        nxt = f'<a href="{pages[i+1].out}">{inline_md(pages[i+1].title)} &rarr;</a>' if i+1 < len(pages) else '<span></span>'
        (site/p.out).write_text(TEMPLATE.format(
            title=text_of(p.title), site_title=text_of(index.title), tagline=text_of(index.fm.get('description', '')),
            git_url=git_url, sidebar=sidebar(pages, p), body=b, toc=toc(b), nb=p.fn.name,
            prev_next=f'<p class="prev-next">{prev}{nxt}</p>'))
    (site/'search-index.js').write_text('window.SEARCH_INDEX = ' + json.dumps(search_entries(pages, bodies)) + ';\n')
    (site/'search.js').write_text(SEARCH_JS)
    (site/'.nojekyll').touch()
    print(f'wrote {len(pages)} pages to {site}')
    return pages

# ---- README.md ----

def _md_outputs(outputs) -> list:
    "README markdown for a code cell's outputs: text in a fence (images are left out)"
    text = []
    for o in outputs:
        data = o.get('data', {})
        if o['output_type'] == 'stream': text.append(plain(o['text']))
        elif 'text/plain' in data and not {'text/html', 'image/png'} & set(data): text.append(plain(data['text/plain']))
    text = ''.join(text).strip('\n')
    return [f'```\n{text}\n```'] if text else []

def readme(proc:Path) -> str:
    "README.md: the processed `index.ipynb` (in `proc`, from `process_nbs`) as GitHub markdown"
    fm, cells = read_page(proc/'index.ipynb')
    parts = [readme_header, f"# {fm['title']}"] + ([f"> {fm['description']}"] if fm.get('description') else [])
    for c in cells:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown': parts.append(src.strip('\n'))
        elif c['cell_type'] == 'code':
            d = directives(src)
            if is_off(d, 'include'): continue
            if (code := code_of(src)) and not is_off(d, 'echo'): parts.append(f'```python\n{code}\n```')
            parts += _md_outputs(c.get('outputs', []))
    parts = [p for p in parts if p and p != '<!-- WARNING: THIS FILE WAS AUTOGENERATED! DO NOT EDIT! -->']
    return '\n\n'.join(parts) + '\n'

def main(args:list):
    site = not {'--check', '--readme'} & set(args)
    with tempfile.TemporaryDirectory() as tmp:
        proc = process_nbs(Path(tmp)/'proc', file_glob='' if site else 'index.ipynb')
        new, dest = readme(proc), root/'README.md'
        if '--check' in args:
            ok = dest.exists() and dest.read_text() == new
            print('README.md is up to date' if ok else 'README.md differs from nbs/index.ipynb: run python tools/docs.py --readme')
            return 0 if ok else 1
        dest.write_text(new)
        print(f'wrote {dest}')
        if site: build_site(proc)
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
