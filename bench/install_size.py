"""How much disk each way of installing gvoice takes: the core, the `course` extras and the `dev` extras.

    python bench/install_size.py [--top 8]

Reads what is installed in this environment (run it in the virtual environment of the README's set-up, where
`pip install -e ".[dev]"` ran): starting from gvoice's own requirements, it follows every distribution's requirements
(with their environment markers and the extras asked for), and adds up the files each one installed, as its RECORD lists
them. It prints the total for the core install, for `.[course]` and for `.[dev]`, and the largest distributions of the
last. gvoice itself, installed in editable mode, counts for nothing. A measurement, not a test: wheels differ by platform
and version, and pip's cache and the interpreter are not counted.
"""
import argparse
import importlib.metadata as md
import re

from packaging.requirements import Requirement


def _name(name:str) -> str:
    "A distribution's name as pip compares them (PEP 503)."
    return re.sub(r'[-_.]+', '-', name).lower()


def _wanted(req:Requirement, extras:set) -> bool:
    "Whether `req` applies here, with these extras asked of the distribution that requires it."
    if req.marker is None: return True
    return any(req.marker.evaluate({'extra': e}) for e in (extras or {''}))


def requirement_tree(name:str, # the distribution to start from
                     extras:set=frozenset(), # its extras asked for
                    ) -> set:
    "The installed distributions `name` needs, with its `extras`, itself included."
    found, todo = set(), [(name, set(extras))]
    while todo:
        n, ex = todo.pop()
        try: dist = md.distribution(n)
        except md.PackageNotFoundError: raise SystemExit(f'{n} is not installed here: run this where `pip install -e ".[dev]"` ran')
        key = (_name(dist.metadata['Name']), frozenset(ex))
        if key in found: continue
        found.add(key)
        for r in map(Requirement, dist.requires or []):
            if _wanted(r, ex): todo.append((r.name, set(r.extras)))
    return {n for n, _ in found}


def installed_bytes(name:str) -> int:
    "The bytes of the files distribution `name` installed (its RECORD); 0 for an editable install's few files."
    files = md.distribution(name).files or []
    return sum(p.stat().st_size for p in (f.locate() for f in files) if p.is_file())


def main():
    "Print the size of the core install, of the course and of the dev extras, and the largest distributions."
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--top', type=int, default=8, help='how many of the largest distributions to list')
    args = ap.parse_args()
    sizes = {}
    for label, extras in (('core', set()), ('.[course]', {'course'}), ('.[dev]', {'dev'})):
        names = requirement_tree('gvoice', extras) - {'gvoice'}
        sizes.update({n: installed_bytes(n) for n in names if n not in sizes})
        print(f'{label:>10}: {len(names):3d} distributions, {sum(sizes[n] for n in names) / 1e9:.2f} GB')
    print(f'\nthe {args.top} largest of .[dev]:')
    for n, b in sorted(sizes.items(), key=lambda kv: -kv[1])[:args.top]: print(f'  {n:24s} {b / 1e6:7.0f} MB')


if __name__ == '__main__': main()
