"""The course's text against the course: every notebook it cites exists, every `gvoice.module.name` it names exists,
and a name it places in a notebook ("`f` (notebook 9)", "notebook 9's `f`") is defined there."""
import importlib
import json
import re
from pathlib import Path

import pytest

NBS = Path(__file__).resolve().parents[1] / 'nbs'


def number(text:str) -> str:
    "A notebook's number as the course cites it: '03' -> '3', '03a' -> '3a'."
    digits, letter = re.fullmatch(r'(\d+)([a-z]?)', text).groups()
    return f'{int(digits)}{letter}'


def in_order(numbers) -> list:
    "Notebook numbers sorted as the course orders them (3, 3a, 4, ..., 10)."
    return sorted(numbers, key=lambda n: (int(re.match(r'\d+', n).group()), n))


NOTEBOOKS = {number(p.name.split('_')[0]): p for p in NBS.glob('[0-9][0-9]*_*.ipynb')}


def markdown(path:Path) -> str:
    "All markdown of a notebook, cells joined."
    return '\n\n'.join(''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'markdown')


def defined_names(path:Path) -> set:
    "Names a notebook's exported cells define at the top level or as methods: functions, classes, constants."
    code = '\n'.join(''.join(c['source']) for c in json.loads(path.read_text())['cells']
                     if c['cell_type'] == 'code' and re.match(r'\s*#\|\s*export', ''.join(c['source'])))
    return set(re.findall(r'^\s*(?:async\s+)?(?:def|class)\s+(\w+)', code, re.M)) | set(re.findall(r'^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=', code, re.M))


TEXTS = {p.name: markdown(p) for p in sorted(NBS.glob('*.ipynb'))}


def cited_numbers(text:str) -> list:
    "Notebook numbers cited as 'notebook 9', 'notebooks 9 and 10', 'notebooks 09–12', 'notebook 03a'."
    return [number(n) for m in re.finditer(r'\b[Nn]otebooks?\s+((?:\d+[a-z]?\b(?:\s*(?:,|and|or|–|-|to)\s*)?)+)', text)
            for n in re.findall(r'\d+[a-z]?\b', m.group(1))]


def test_cited_numbers_parse_lists():
    assert cited_numbers("as notebook 9 showed, and notebooks 10 and 12, or notebooks 13–14") == ['9', '10', '12', '13', '14']
    assert cited_numbers("notebook 03a (downloads) and notebooks 3a and 04, not notebook 3 alone") == ['3a', '3a', '4', '3']


@pytest.mark.parametrize('name', sorted(TEXTS))
def test_every_cited_notebook_exists(name):
    missing = in_order({n for n in cited_numbers(TEXTS[name]) if n not in NOTEBOOKS})
    assert not missing, f"{name} cites notebook(s) {missing}; the course has {in_order(NOTEBOOKS)}"


@pytest.mark.parametrize('name', sorted(TEXTS))
def test_every_named_library_function_exists(name):
    wrong = []
    for ref in sorted(set(re.findall(r'`(gvoice(?:\.\w+)+)', TEXTS[name]))):
        parts = ref.split('.')
        for cut in range(len(parts), 1, -1):   # the longest importable module, then attributes
            try: obj = importlib.import_module('.'.join(parts[:cut]))
            except ModuleNotFoundError: continue
            try:
                for attr in parts[cut:]: obj = getattr(obj, attr)
            except AttributeError: wrong.append(ref)
            break
        else: wrong.append(ref)
    assert not wrong, f"{name} names {wrong}, which gvoice does not have"


def placed_names(text:str) -> list:
    "(name, notebook number) for '`name` (notebook N)', '`name` of notebook N' and 'notebook N's `name`'."
    after = re.findall(r'`(\w+)(?:\(\))?`\s*(?:\((?:from |in |see )?notebook (\d+[a-z]?)\)|(?:of|in|from) notebook (\d+[a-z]?)\b)', text)
    before = re.findall(r"[Nn]otebook (\d+[a-z]?)'s `(\w+)(?:\(\))?`", text)
    return [(n, number(a or b)) for n, a, b in after] + [(n, number(k)) for k, n in before]


def test_placed_names_parse():
    assert placed_names("`loco_scores` (notebook 16) and notebook 9's `make_logreg` and `extract()` of notebook 6") == [
        ('loco_scores', '16'), ('extract', '6'), ('make_logreg', '9')]
    assert placed_names("`safe_extract` (notebook 03a)") == [('safe_extract', '3a')]


@pytest.mark.parametrize('name', sorted(TEXTS))
def test_names_placed_in_a_notebook_are_defined_there(name):
    wrong = [(n, k) for n, k in placed_names(TEXTS[name]) if k in NOTEBOOKS and n not in defined_names(NOTEBOOKS[k])]
    assert not wrong, f"{name} places these names in notebooks that do not define them: {wrong}"


TOPICS = {'cnn': 'cnn', 'convolutional': 'cnn', 'gmm': 'gmm', 'classical': 'classical', 'dense': 'dense', 'gate': 'gate',
          'augmentation': 'augment', 'predictor': 'predict', 'encoder': 'encoder'}  # a word in the text -> the module of the notebook it cites


def default_exp(path:Path) -> str|None:
    "The module a notebook exports to."
    for c in json.loads(path.read_text())['cells']:
        m = re.match(r'\s*#\|\s*default_exp\s+(\S+)', ''.join(c['source']))
        if c['cell_type'] == 'code' and m: return m.group(1)
    return None


def topic_citations(text:str) -> list:
    "(topic word, notebook number) where a topic word of TOPICS comes within five words before '(notebook N)', 'of notebook N' or 'in notebook N'."
    found = []
    for m in re.finditer(r"((?:[\w'`-]+\W+){1,5})(?:\(notebook (\d+[a-z]?)\)|(?:of|in) notebook (\d+[a-z]?)\b)", text):
        words = re.findall(r'\w+', m.group(1).lower())
        found += [(w, number(m.group(2) or m.group(3))) for w in words if w.rstrip('s') in TOPICS]
    return found


def test_topic_citations_parse():
    assert topic_citations("the course's own CNN (notebook 11) and the GMMs of notebook 8") == [('cnn', '11'), ('gmms', '8')]


@pytest.mark.parametrize('name', sorted(TEXTS))
def test_topics_cite_their_notebook(name):
    wrong = [(w, k) for w, k in topic_citations(TEXTS[name]) if k in NOTEBOOKS and default_exp(NOTEBOOKS[k]) != TOPICS[w.rstrip('s')]]
    assert not wrong, f"{name} cites the wrong notebook for {wrong} (notebooks: { {k: default_exp(NOTEBOOKS[k]) for k in in_order(NOTEBOOKS)} })"
