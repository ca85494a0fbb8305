#!/usr/bin/env python
"""Print the README's model-zoo table from configs/pretrain/metafile.yml,
its single source (OpenMMLab's model-index format).

    python tools/analysis_tools/model_zoo_table.py            # print it
    python tools/analysis_tools/model_zoo_table.py --update   # rewrite README

A metric whose name contains ``paper`` is the paper's number; any other
metric is a measured one and fills the "measured" columns.
"""
import argparse
import os.path as osp

import yaml

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METAFILE = osp.join(REPO, 'configs', 'pretrain', 'metafile.yml')
README = osp.join(REPO, 'README.md')
BEGIN, END = '<!-- model-zoo:begin -->', '<!-- model-zoo:end -->'
# column -> how a metric's name starts (paper columns say "paper")
COLUMNS = (
    ('paper linear (last cls)', 'Top 1 Accuracy (linear, last cls token'),
    ('paper linear (DINO protocol)', 'Top 1 Accuracy (linear, DINO protocol'),
    ('paper k-NN', 'Top 1 Accuracy (k-NN'),
)
THROUGHPUT = 'Inference throughput (paper, V100, im/s)'


def _cell(metrics, prefix, measured):
    for name, value in metrics.items():
        if name.startswith(prefix) and (('paper' in name) != measured):
            note = name[name.index(', Table'):-1].lstrip(', ') \
                if ', Table' in name else ''
            return f'{value} ({note})' if note else f'{value}'
    return '-'


def table(metafile=METAFILE):
    """The markdown table: one row per model of the metafile."""
    with open(metafile) as f:
        models = yaml.safe_load(f)['Models']
    header = ['config', 'epochs'] + [c for c, _ in COLUMNS] + [
        'measured linear', 'measured k-NN', 'im/s (paper, V100)'
    ]
    lines = ['| ' + ' | '.join(header) + ' |', '| --- ' * len(header) + '|']
    for model in models:
        metrics = {}
        for result in model.get('Results', []):
            metrics.update(result.get('Metrics', {}))
        row = [
            f'`{osp.basename(model["Config"])}`',
            str(model['Metadata']['Epochs'])
        ]
        row += [
            _cell(metrics, prefix, measured=False) for _, prefix in COLUMNS
        ]
        row += [
            _cell(metrics, COLUMNS[0][1], measured=True),
            _cell(metrics, COLUMNS[2][1], measured=True),
            str(model['Metadata'].get(THROUGHPUT, '-'))
        ]
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def readout(readme=README):
    """The table as it stands in the README, between the markers."""
    with open(readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise ValueError(f'{readme} has no {BEGIN} ... {END} block')
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--update', action='store_true', help='write the table into README.md')
    args = parser.parse_args(argv)
    text = table()
    if args.update:
        with open(README) as f:
            readme = f.read()
        before, rest = readme.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        with open(README, 'w') as f:
            f.write(f'{before}{BEGIN}\n{text}\n{END}{after}')
    print(text)


if __name__ == '__main__':
    main()
