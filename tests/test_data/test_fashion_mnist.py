"""tools/dataset_converters/fashion_mnist_to_imagefolder.py: the checks of
what mmpretrain's IDX reader gives, the errors naming a bad file, the image
folder it writes, and mmpretrain's CustomDataset on it."""
import gzip
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

DEBIAN_SRC = '/usr/share/datasets/fashion-mnist'


@pytest.fixture(scope='module')
def fm(load_tool):
    return load_tool('dataset_converters/fashion_mnist_to_imagefolder')


# 12 images: image i is filled with 10 * i + 5 except pixel (i, 27 - i),
# which holds 250 - i; labels cover 0..9 with classes 3 and 7 twice.
LABELS = [3, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9]


def make_images(n=len(LABELS)):
    images = np.empty((n, 28, 28), np.uint8)
    for i in range(n):
        images[i] = 10 * i + 5
        images[i, i, 27 - i] = 250 - i
    return images


def idx_bytes(array, magic=None, shape=None):
    """IDX file content: big-endian magic, dims, then the bytes."""
    array = np.asarray(array, np.uint8)
    shape = array.shape if shape is None else shape
    magic = (0x800 + len(shape)) if magic is None else magic
    header = magic.to_bytes(4, 'big') + b''.join(
        d.to_bytes(4, 'big') for d in shape)
    return header + array.tobytes()


def write_file(path, data, gz):
    if gz:
        path += '.gz'
        with gzip.open(path, 'wb') as f:
            f.write(data)
    else:
        with open(path, 'wb') as f:
            f.write(data)
    return path


def write_split(src,
                split,
                images,
                labels,
                gz,
                images_data=None,
                labels_data=None):
    prefix = {'train': 'train', 'test': 't10k'}[split]
    paths = {}
    paths['images'] = write_file(
        osp.join(src, f'{prefix}-images-idx3-ubyte'),
        idx_bytes(images) if images_data is None else images_data, gz)
    paths['labels'] = write_file(
        osp.join(src, f'{prefix}-labels-idx1-ubyte'),
        idx_bytes(labels) if labels_data is None else labels_data, gz)
    return paths


@pytest.fixture(params=[True, False], ids=['gzip', 'raw'])
def src(request, tmp_path):
    """12 training and 12 test images (test = training reversed)."""
    folder = tmp_path / 'src'
    folder.mkdir()
    images = make_images()
    write_split(str(folder), 'train', images, LABELS, request.param)
    write_split(str(folder), 'test', images[::-1], LABELS[::-1], request.param)
    return str(folder)


@pytest.fixture
def convert(fm):

    def run(src, out, **kwargs):
        kwargs.setdefault('progress', False)
        return fm.convert(src=src, out=str(out), **kwargs)

    return run


def listing(out, split):
    root = osp.join(out, split)
    return {
        name: sorted(os.listdir(osp.join(root, name)))
        for name in sorted(os.listdir(root))
    }


def test_read_idx(fm, src):
    images, labels, images_path, labels_path = fm.load_split(src, 'train')
    assert images.dtype == np.uint8 and images.shape == (12, 28, 28)
    np.testing.assert_array_equal(images, make_images())
    np.testing.assert_array_equal(labels, LABELS)
    assert osp.basename(images_path).startswith('train-images-idx3-ubyte')
    assert osp.basename(labels_path).startswith('train-labels-idx1-ubyte')


def test_layout_and_pixels(fm, convert, src, tmp_path):
    # mmpretrain's class names in label order, as sortable folder names.
    assert fm.CLASSES == ('0_t-shirt_top', '1_trouser', '2_pullover',
                          '3_dress', '4_coat', '5_sandal', '6_shirt',
                          '7_sneaker', '8_bag', '9_ankle_boot')
    out = tmp_path / 'out'
    result = convert(src, out)
    assert result['skipped'] is False
    assert result['classes'] == list(fm.CLASSES)
    assert sorted(os.listdir(out)) == ['.complete.json', 'test', 'train']

    expected = {name: [] for name in fm.CLASSES}
    for i, label in enumerate(LABELS):
        expected[fm.CLASSES[label]].append(f'{i:02d}.png')
    assert listing(out, 'train') == expected
    assert result['counts']['train'] == {
        name: len(files)
        for name, files in expected.items()
    }

    images = make_images()
    for i, label in enumerate(LABELS):
        path = osp.join(out, 'train', fm.CLASSES[label], f'{i:02d}.png')
        with Image.open(path) as img:
            assert img.mode == 'L' and img.size == (28, 28)
            np.testing.assert_array_equal(np.asarray(img), images[i])
    # test split: image j of the test file is training image 11 - j
    path = osp.join(out, 'test', fm.CLASSES[LABELS[11]], '00.png')
    with Image.open(path) as img:
        np.testing.assert_array_equal(np.asarray(img), images[11])


def test_custom_dataset_reads_it(fm, convert, src, tmp_path):
    from mmpretrain.datasets import CustomDataset
    out = str(tmp_path / 'out')
    convert(src, out)
    dataset = CustomDataset(
        data_root=out,
        data_prefix='train',
        pipeline=[dict(type='LoadImageFromFile')])
    assert dataset.CLASSES == fm.CLASSES
    assert len(dataset) == len(LABELS)
    # CustomDataset sorts by class folder, then by file name.
    expected = sorted((label, i) for i, label in enumerate(LABELS))
    got = [(int(info['gt_label']), int(osp.basename(info['img_path'])[:-4]))
           for info in (dataset.get_data_info(k) for k in range(len(dataset)))]
    assert got == expected

    # 3-channel image, every channel the grey image
    item = dataset[0]
    assert item['img'].shape == (28, 28, 3)
    label, index = expected[0]
    for c in range(3):
        np.testing.assert_array_equal(item['img'][..., c],
                                      make_images()[index])


def test_max_per_class(fm, convert, src, tmp_path):
    out = tmp_path / 'out'
    result = convert(src, out, max_per_class_train=1, max_per_class_test=1)
    # the first image of each class, in file order: 3 -> 0, 7 -> 2
    train = listing(out, 'train')
    assert train[fm.CLASSES[3]] == ['00.png']
    assert train[fm.CLASSES[7]] == ['02.png']
    assert all(len(files) == 1 for files in train.values())
    # test = reversed: class 7 first at 11 - 9 = 2, class 3 at 11 - 5 = 6
    test = listing(out, 'test')
    assert test[fm.CLASSES[7]] == ['02.png']
    assert test[fm.CLASSES[3]] == ['06.png']
    assert sum(result['counts']['test'].values()) == 10

    with pytest.raises(ValueError, match=r'max_per_class_train=0'):
        convert(src, tmp_path / 'other', max_per_class_train=0)


def images_with_magic_2049():
    return idx_bytes(make_images(), magic=2049)


def truncated_images():
    return idx_bytes(make_images())[:-100]


def trailing_byte():
    return idx_bytes(make_images()) + b'\0'


@pytest.mark.parametrize('gz', [True, False], ids=['gzip', 'raw'])
@pytest.mark.parametrize(
    'images_data', [images_with_magic_2049, truncated_images, trailing_byte])
def test_unreadable_images_file_is_named(fm, tmp_path, gz, images_data):
    paths = write_split(
        str(tmp_path), 'train', None, LABELS, gz=gz, images_data=images_data())
    with pytest.raises(fm.IDXError) as e:
        fm.load_split(str(tmp_path), 'train')
    message = str(e.value)
    size = os.path.getsize(paths['images'])
    assert message.startswith(f'{paths["images"]}: not a readable IDX '
                              f'images file ({size} bytes); expected magic '
                              'number 2051')


def test_truncated_gzip_stream(fm, tmp_path):
    src = str(tmp_path)
    paths = write_split(src, 'train', make_images(), LABELS, gz=True)
    with open(paths['images'], 'rb') as f:
        data = f.read()
    with open(paths['images'], 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(
            fm.IDXError,
            match=r'train-images-idx3-ubyte\.gz: not a readable '
            r'IDX images file \(EOFError'):
        fm.load_split(src, 'train')


def test_swapped_files(fm, tmp_path):
    """An images file where the labels belong (both valid IDX files)."""
    src = str(tmp_path)
    paths = write_split(
        src,
        'test',
        make_images(),
        LABELS,
        gz=False,
        labels_data=idx_bytes(make_images()))
    with pytest.raises(fm.IDXError) as e:
        fm.load_split(src, 'test')
    assert str(e.value) == (
        f'{paths["labels"]}: holds a 3-D uint8 array, expected labels: 1-D '
        'unsigned bytes (IDX magic number 2049)')


def test_count_mismatch(fm, tmp_path):
    src = str(tmp_path)
    paths = write_split(src, 'train', make_images(11), LABELS, gz=True)
    with pytest.raises(fm.IDXError) as e:
        fm.load_split(src, 'train')
    message = str(e.value)
    assert paths['images'] in message and paths['labels'] in message
    assert '11 images' in message and '12 labels' in message


def test_label_out_of_range(fm, convert, tmp_path):
    src = str(tmp_path)
    labels = list(LABELS)
    labels[4] = 10
    paths = write_split(src, 'train', make_images(), labels, gz=True)
    with pytest.raises(fm.IDXError) as e:
        fm.load_split(src, 'train')
    message = str(e.value)
    assert paths['labels'] in message
    assert 'mislabelled, label 10 at index 4' in message
    assert 'expected 0..9' in message
    # nothing is written when a split is bad
    out = tmp_path / 'out'
    with pytest.raises(fm.IDXError):
        convert(src, out, splits=['train'])
    assert not out.exists()


def test_unknown_split_and_missing_file(fm, convert, src, tmp_path):
    with pytest.raises(ValueError, match=r"unknown split 'val'"):
        convert(src, tmp_path / 'out', splits=['train', 'val'])
    os.remove(fm.find_idx_file(src, 'test', 'labels'))
    with pytest.raises(
            FileNotFoundError,
            match=r'neither t10k-labels-idx1-ubyte nor '
            r't10k-labels-idx1-ubyte\.gz'):
        convert(src, tmp_path / 'out')


def test_never_overwrites_foreign_folder(convert, src, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    convert(src, out)  # an empty folder is fine
    theirs = tmp_path / 'theirs'
    theirs.mkdir()
    (theirs / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError) as e:
        convert(src, theirs)
    assert str(theirs) in str(e.value) and '--force' in str(e.value)
    assert os.listdir(theirs) == ['notes.txt']

    # --force replaces the split folders and keeps everything else
    convert(src, theirs, force=True)
    assert (theirs / 'notes.txt').read_text() == 'keep me'
    assert len(listing(theirs, 'train')) == 10


def test_interrupted_or_other_options_need_force(fm, convert, src, tmp_path):
    out = tmp_path / 'out'
    convert(src, out)
    # other options: refused, with the recorded options in the message
    with pytest.raises(FileExistsError, match=r'other sources or options'):
        convert(src, out, max_per_class_train=1)
    # a lost image makes the folder incomplete: refused as well
    os.remove(out / 'train' / fm.CLASSES[9] / '11.png')
    with pytest.raises(FileExistsError):
        convert(src, out)
    # a conversion that never finished has no marker
    os.remove(out / fm.MARKER)
    with pytest.raises(FileExistsError, match=r'no \.complete\.json'):
        convert(src, out)
    assert convert(src, out, force=True)['skipped'] is False
    assert (out / 'train' / fm.CLASSES[9] / '11.png').exists()


def test_rerun_is_a_noop(fm, convert, src, tmp_path):
    out = tmp_path / 'out'
    convert(src, out)
    png = out / 'train' / fm.CLASSES[0] / '01.png'
    before = png.stat().st_mtime_ns
    result = convert(src, out)
    assert result['skipped'] is True
    assert png.stat().st_mtime_ns == before
    assert result['counts']['train'][fm.CLASSES[3]] == 2


def test_cli(fm, src, tmp_path, capsys):
    out = str(tmp_path / 'out')
    args = ['--src', src, '--out', out, '--max-per-class-train', '1']
    assert fm.main(args) == 0
    assert 'wrote train 10, test 12 images' in capsys.readouterr().out
    assert fm.main(args) == 0
    assert 'nothing to do' in capsys.readouterr().out
    assert fm.main(args[:4]) == 1  # other options, no --force
    assert '--force' in capsys.readouterr().err
    assert fm.main(['--src', src, '--out', out, '--splits', 'val']) == 1
    assert "unknown split 'val'" in capsys.readouterr().err


@pytest.mark.skipif(
    not osp.isfile(osp.join(DEBIAN_SRC, 'train-labels-idx1-ubyte.gz')),
    reason='Debian package dataset-fashion-mnist is not installed')
def test_debian_files(fm, convert, tmp_path):
    images, labels, _, _ = fm.load_split(DEBIAN_SRC, 'train')
    assert images.shape == (60000, 28, 28) and labels.shape == (60000, )
    assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert np.bincount(labels).tolist() == [6000] * 10
    images, labels, _, _ = fm.load_split(DEBIAN_SRC, 'test')
    assert images.shape == (10000, 28, 28)
    assert labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]

    out = tmp_path / 'out'
    result = convert(
        DEBIAN_SRC, out, max_per_class_train=2, max_per_class_test=1)
    assert result['counts']['train'] == {name: 2 for name in fm.CLASSES}
    assert result['counts']['test'] == {name: 1 for name in fm.CLASSES}
    assert sum(len(f) for f in listing(out, 'train').values()) == 20
    assert sum(len(f) for f in listing(out, 'test').values()) == 10
    # the first training image is an ankle boot (label 9), index 0
    assert listing(out, 'train')[fm.CLASSES[9]][0] == '00000.png'
    assert listing(out, 'test')[fm.CLASSES[9]] == ['0000.png']
