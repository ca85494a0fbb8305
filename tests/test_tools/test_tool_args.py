"""mst_mm/utils/tool_args.py: the command-line plumbing the tools share."""
import argparse
import os.path as osp

import pytest
import torch.distributed as torch_dist

from mst_mm.utils import tool_args


def parser_with(*adders):
    parser = argparse.ArgumentParser()
    for add in adders:
        add(parser)
    return parser


def test_cfg_options_are_parsed_and_merged_over_the_config(tiny_config):
    parser = parser_with(tool_args.add_cfg_options)
    args = parser.parse_args([
        '--cfg-options', 'train_dataloader.batch_size=3', 'model.head.x=[1,2]',
        'work_dir=elsewhere'
    ])
    assert args.cfg_options == {
        'train_dataloader.batch_size': 3,
        'model.head.x': [1, 2],
        'work_dir': 'elsewhere'
    }
    plain = tool_args.load_config(tiny_config)
    cfg = tool_args.load_config(tiny_config, args.cfg_options)
    assert plain.train_dataloader.batch_size != 3
    assert cfg.train_dataloader.batch_size == 3
    assert cfg.model.head.x == [1, 2]
    # The rest of the nested dict is kept.
    assert cfg.model.head.type == plain.model.head.type
    assert parser.parse_args([]).cfg_options is None


def test_a_missing_config_is_named(tmp_path):
    missing = str(tmp_path / 'nope.py')
    with pytest.raises(FileNotFoundError) as err:
        tool_args.load_config(missing, {'a': 1})
    assert str(err.value) == f'config file {missing!r} does not exist'


def test_default_work_dir_is_the_config_stem():
    assert tool_args.default_work_dir(
        'configs/pretrain/mst_deit-s_300e.py') == osp.join(
            'work_dirs', 'mst_deit-s_300e')


def test_work_dir_flag_beats_the_config_which_beats_the_default(tiny_config):
    cfg = tool_args.load_config(tiny_config)
    assert cfg.get('work_dir', None) is None
    assert tool_args.set_work_dir(cfg, None, tiny_config) == osp.join(
        'work_dirs', 'tiny_vit_2cls')
    cfg = tool_args.load_config(tiny_config, {'work_dir': 'from_config'})
    assert tool_args.set_work_dir(cfg, None, tiny_config) == 'from_config'
    assert tool_args.set_work_dir(cfg, 'from_flag', tiny_config) == 'from_flag'
    assert cfg.work_dir == 'from_flag'


def test_launcher_flags_and_local_rank(monkeypatch):
    parser = parser_with(tool_args.add_launcher)
    args = parser.parse_args([])
    assert args.launcher == 'none' and args.local_rank == 0
    with pytest.raises(SystemExit):
        parser.parse_args(['--launcher', 'torchrun'])
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    tool_args.set_local_rank(parser.parse_args(['--local_rank', '3']))
    assert tool_args.os.environ['LOCAL_RANK'] == '3'
    # torchrun's own LOCAL_RANK wins over the flag.
    monkeypatch.setenv('LOCAL_RANK', '1')
    args = tool_args.set_local_rank(parser.parse_args(['--local-rank', '5']))
    assert args.local_rank == 5 and tool_args.os.environ['LOCAL_RANK'] == '1'


def test_checkpoint_words_and_files(tmp_path):
    assert not tool_args.is_trained('random')
    assert not tool_args.is_trained('none')
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'')
    assert tool_args.is_trained(str(ckpt))
    for word in ('Random', 'randon', str(tmp_path / 'epoch_2.pth')):
        with pytest.raises(FileNotFoundError) as err:
            tool_args.is_trained(word, 'backbone')
        assert str(err.value) == (
            f'checkpoint {word!r} does not exist (use "random" for an '
            'untrained backbone)')


def test_no_launcher_starts_no_process_group(tiny_config, monkeypatch):
    cfg = tool_args.load_config(tiny_config)
    tool_args.init_distributed(cfg, 'none')
    assert not torch_dist.is_initialized()
    # A CPU launch outside torchrun names what it misses.
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match='torchrun sets'):
        tool_args.init_distributed(cfg, 'pytorch')
    assert not torch_dist.is_initialized()


def test_the_tools_share_the_flags(load_tool, tiny_config):
    options = ['--cfg-options', 'a.b=1']
    for name, extra in (('train', []), ('test', ['ckpt.pth']),
                        ('knn_eval', ['random']), ('visualize_mst', ['random'
                                                                     ])):
        args = load_tool(name).parse_args([tiny_config, *extra, *options])
        assert args.cfg_options == {'a.b': 1}, name
        if name != 'visualize_mst':
            assert args.launcher == 'none', name
