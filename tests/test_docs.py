"""The documentation site, built offline by tools/docs.py and opened page by page in headless Chromium,
from the file system and from `python -m http.server`: no console errors, no broken internal links, every
image loads, every public name has its API entry. Screenshots of the home page and of an API page are
saved to `build/docs-screenshots/` (not committed)."""
import os, json, functools, http.server, importlib, re, shutil, sys, tempfile, threading
from pathlib import Path
from urllib.parse import urlparse, unquote

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

root = Path(__file__).resolve().parent.parent
from tools import docs as docs_tool

CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
shots = root/'build'/'docs-screenshots'

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('site')
    docs_tool.build_site(docs_tool.process_nbs(tmp/'proc'), tmp/'docs')
    return tmp/'docs'

@pytest.fixture(scope='module')
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_port}'
    httpd.shutdown()

@pytest.fixture(scope='module')
def browser():
    if os.environ.get('SKIP_CHROMIUM'): pytest.skip('SKIP_CHROMIUM is set: the browser test of the docs is skipped')
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, (f'{", ".join(missing)} not found: the docs test needs Debian\'s Chromium; '
                         'install it with `apt-get install -y chromium chromium-driver` (.ci/run does)')
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    udd = tempfile.mkdtemp()
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--window-size=1400,1000', f'--user-data-dir={udd}'): opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    yield drv
    drv.quit()
    shutil.rmtree(udd, ignore_errors=True)

def page_ids(fn:Path) -> set: return set(re.findall(r'\bid="([^"]+)"', fn.read_text()))

def check_page(drv, url:str, site:Path, base:str):
    "Load `url`; return the problems found: console errors, images that did not load, internal links that go nowhere"
    drv.get(url)
    drv.execute_script('window.scrollTo(0, document.body.scrollHeight)')
    problems = [f'console: {e["message"]}' for e in drv.get_log('browser') if e['level'] == 'SEVERE']
    imgs = drv.execute_script('return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])')
    problems += [f'image did not load: {src}' for src, done, w in imgs if not (done and w > 0)]
    cut = drv.execute_script('return Array.from(document.querySelectorAll("pre, table")).filter(e => e.scrollWidth > e.clientWidth + 1 '
                             '&& !["auto", "scroll"].includes(getComputedStyle(e).overflowX) && !["auto", "scroll"].includes(getComputedStyle(e.parentElement).overflowX))'
                             '.map(e => e.textContent.slice(0, 60))')
    problems += [f'cut off at the right edge (neither wraps nor scrolls): {t!r}' for t in cut]
    for href in drv.execute_script('return Array.from(document.querySelectorAll("a[href]")).map(a => a.href)'):
        if not href.startswith(base): continue  # external: not ours to check
        u = urlparse(href)
        rel = unquote(u.path)[len(urlparse(base).path):].lstrip('/') or 'index.html'
        target = site/rel
        if not target.is_file(): problems.append(f'broken link: {href}')
        elif u.fragment and target.suffix == '.html' and u.fragment not in page_ids(target):
            problems.append(f'link to a missing anchor: {href}')
    return imgs, problems

def html_pages(site): return sorted(site.glob('*.html'))

def test_one_page_per_notebook(site):
    nbs = sorted(p.name for p in (root/'nbs').glob('*.ipynb'))
    titles = {p.name: re.search(r'<h1 class="title">(.*?)</h1>', p.read_text()).group(1) for p in html_pages(site)}
    assert len(titles) == len(nbs), (titles, nbs)
    assert 'index.html' in titles
    nav = re.findall(r'<nav class="sidebar".*?</nav>', (site/'index.html').read_text(), re.S)[0]
    assert sorted(re.findall(r'href="([^"]+)"', nav)) == sorted(titles), 'every page is in the navigation'

@pytest.mark.parametrize('mode', ['file', 'http'])
def test_pages_load_cleanly_in_chromium(site, server, browser, mode):
    base = site.as_uri() + '/' if mode == 'file' else server + '/'
    n_imgs = 0
    for p in html_pages(site):
        imgs, problems = check_page(browser, base + p.name, site, base)
        assert not problems, f'{p.name} ({mode}): ' + '\n'.join(problems)
        n_imgs += len(imgs)
    assert n_imgs >= 10, f'only {n_imgs} images on the whole site'
    if mode == 'http':
        shots.mkdir(parents=True, exist_ok=True)
        for name in ('index', 'loss'):
            browser.get(f'{base}{name}.html')
            assert browser.save_screenshot(str(shots/f'{name}.png'))
            assert (shots/f'{name}.png').stat().st_size > 10_000

def test_search_index_points_at_real_anchors(site):
    text = (site/'search-index.js').read_text()
    entries = json.loads(text[text.index('['):text.rindex(']') + 1])
    assert len(entries) > 50 and sum(e['api'] for e in entries) >= 25
    for e in entries:
        page, _, anchor = e['u'].partition('#')
        assert (site/page).is_file() and (not anchor or anchor in page_ids(site/page)), e

@pytest.mark.parametrize('mode', ['file', 'http'])
def test_search_box_finds_an_api_entry(site, server, browser, mode):
    "Type a public name in the search box on the home page and follow the first hit: it is that name's API entry"
    from selenium.webdriver.support.ui import WebDriverWait
    base = site.as_uri() + '/' if mode == 'file' else server + '/'
    browser.get(base + 'index.html')
    browser.find_element('id', 'search').send_keys('cpc_learner')
    first = WebDriverWait(browser, 5).until(lambda d: d.find_elements('css selector', '#search-hits a'))[0]
    assert first.text.startswith('cpc_learner')
    first.click()
    WebDriverWait(browser, 5).until(lambda d: '#' in d.current_url)
    assert browser.current_url.endswith('learner.html#cpc_learner'), browser.current_url
    assert browser.execute_script("const h = document.getElementById('cpc_learner'); return h && h.tagName") == 'H3'
    assert not [e for e in browser.get_log('browser') if e['level'] == 'SEVERE']

def test_every_public_name_has_its_api_entry(site):
    from fastai_cpc._modidx import d
    missing, checked = [], 0
    for mod, syms in d['syms'].items():
        if mod == 'fastai_cpc.all': continue
        public = set(importlib.import_module(mod).__all__)
        for full, (url, _) in syms.items():
            name = full[len(mod)+1:]
            if name not in public: continue  # methods and private helpers
            page, anchor = url.split('#')
            checked += 1
            html = (site/page).read_text()
            m = re.search(rf'<h3 id="{re.escape(anchor)}">(.*?)</h3>\s*<div class="highlight"><pre>(.*?)</pre>', html, re.S)
            if not m: missing.append(f'{full} (expected #{anchor} on {page})')
            else: assert re.search(r'source</a>', html[max(0, m.start()-400):m.start()]), f'{full}: no source link'
    assert checked >= 25, f'only {checked} public names found in fastai_cpc._modidx'
    assert not missing, 'no API entry (show_doc) for: ' + ', '.join(missing)

def test_ids_are_unique(site):
    for p in html_pages(site):
        ids = re.findall(r'\bid="([^"]+)"', p.read_text())
        assert len(ids) == len(set(ids)), f'{p.name}: repeated ids {sorted({i for i in ids if ids.count(i) > 1})}'

def test_outputs_render_as_html(site):
    "Rich outputs (fastai's training tables) are rendered, not shown as escaped markup"
    for p in html_pages(site):
        text = p.read_text()
        assert not re.search(r'&lt;(table|div|style|progress)\b', text), f'{p.name} shows escaped HTML output'
    assert '<table class="fastprogress">' in (site/'imagenette.html').read_text()
