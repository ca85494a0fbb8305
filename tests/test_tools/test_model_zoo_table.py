"""The README's model-zoo table is generated from the metafile."""


def test_readme_table_is_the_metafile(load_tool):
    tool = load_tool('analysis_tools/model_zoo_table')
    assert tool.readout() == tool.table()


def test_measured_metrics_fill_the_measured_columns(load_tool, tmp_path):
    tool = load_tool('analysis_tools/model_zoo_table')
    metafile = tmp_path / 'metafile.yml'
    metafile.write_text('''
Models:
  - Name: m
    Config: configs/pretrain/m.py
    Metadata:
      Epochs: 7
      Inference throughput (paper, V100, im/s): 12
    Results:
      - Metrics:
          Top 1 Accuracy (linear, last cls token, paper, Table 6): 70.5
          Top 1 Accuracy (linear, last cls token): 69.1
          Top 1 Accuracy (k-NN): 60.2
''')
    rows = tool.table(str(metafile)).splitlines()
    assert rows[2] == ('| `m.py` | 7 | 70.5 (Table 6) | - | - | 69.1 | 60.2 '
                       '| 12 |')
