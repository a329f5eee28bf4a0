"Drop TensorFlow's C++ start-up log lines (absl, oneDNN, cpu_feature_guard) from the saved stderr outputs of notebooks: python .ci/strip_tf_logs.py nbs/1*.ipynb"
import nbformat, sys, re
noise = re.compile(r'absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|To enable the following instructions')
for p in sys.argv[1:]:
    nb = nbformat.read(p, 4); n = 0
    for c in nb.cells:
        if c.cell_type != 'code': continue
        outs = []
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream' and o.get('name') == 'stderr':
                lines = [l for l in o['text'].splitlines(True) if not noise.search(l)]
                n += o['text'].count('\n') - len(lines)
                if not ''.join(lines).strip(): continue
                o['text'] = ''.join(lines)
            outs.append(o)
        c.outputs = outs
    nbformat.write(nb, p); print(p, 'dropped', n, 'log lines')
