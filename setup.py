"""Package set-up read from settings.ini, as nbdev 2 projects do."""
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o: cfg[o] for o in cfg_keys}

licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT'}  # SPDX expressions (setuptools deprecates License classifiers)
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12'.split()

requirements = shlex.split(cfg.get('requirements', ''))  # the core: GenderPredictor, `gvoice predict` and `gvoice demo`
fast_requirements = shlex.split(cfg.get('fast_requirements', ''))  # onnxruntime where the core's marker leaves it out
course_requirements = fast_requirements + shlex.split(cfg.get('course_requirements', ''))  # notebooks, training, networks, recording
dev_requirements = course_requirements + shlex.split(cfg.get('dev_requirements', ''))
lic = licenses.get(cfg['license'].lower(), cfg['license'])
min_python = cfg['min_python']
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    license=lic,
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['gvoice', 'gvoice.*']) + ['gvoice.pretrained'],  # the shipped model and encoder: data, no code
    package_dir={'': '.'},  # the packages sit at the clone's root: `pip install -e` then puts the clone on Python's path, so a folder
                            # named gvoice beside where Python starts cannot shadow the package (tests/test_install.py)
    package_data={'gvoice.pretrained': ['*.gvm', '*.npz']},
    install_requires=requirements,
    extras_require={'fast': fast_requirements, 'course': course_requirements, 'dev': dev_requirements},
    dependency_links=cfg.get('dep_links', '').split(),
    python_requires='>=' + cfg['min_python'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={
        'console_scripts': console_scripts,
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d'],
    },
    **setup_cfg)
