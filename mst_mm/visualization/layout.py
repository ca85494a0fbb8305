"""The pixel layout of MST's pictures.

Image panels are pasted pixel for pixel (matplotlib's ``figimage``, no
resampling) into a figure whose size in pixels follows from the number of
rows and columns only, so the pictures have deterministic sizes and a
masked patch is exactly a block of pixels; matplotlib draws the titles and
colour bars. No pyplot state is used (safe in hooks and threads).
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

DPI = 100
PANEL = 192  # px, width of an image panel (masks, restoration)
HEAD_PANEL = 128  # px, width of a panel of the per-head picture
MARGIN = 10
GAP = 16  # between panels of a row
TITLE_H = 40  # column titles, up to two lines
CAPTION_H = 18  # one line under each row of panels
ROW_LABEL_W = 22  # rotated row names of the per-head picture
GROUP_GAP = 10  # between the images of the per-head picture
COLORBAR_W = 10
COLORBAR_SLOT = 6 + COLORBAR_W + 48  # pad, bar, tick labels
# Masked patches: a grey cell with darker diagonal hatching.
MASK_FILL = (160, 160, 160)
MASK_HATCH = (96, 96, 96)
HEAT_CMAP = 'inferno'
HEAT_ALPHA = 0.6  # weight of the heat map over the image in (b)


class Sheet:
    """A figure laid out in pixels (origin top-left): images are pasted
    without resampling, text and colour bars are drawn by matplotlib."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = int(width), int(height)
        self.fig = Figure(
            figsize=(self.width / DPI, self.height / DPI),
            dpi=DPI,
            facecolor='white')
        FigureCanvasAgg(self.fig)

    def image(self, rgb: np.ndarray, top: int, left: int) -> None:
        self.fig.figimage(
            rgb,
            xo=left,
            yo=self.height - top - rgb.shape[0],
            origin='upper',
            zorder=1)

    def text(self, x: float, y: float, s: str, **kwargs) -> None:
        kwargs.setdefault('fontsize', 8.5)
        kwargs.setdefault('ha', 'center')
        self.fig.text(x / self.width, 1 - y / self.height, s, **kwargs)

    def colorbar(self, top: int, left: int, height: int, vmin: float,
                 vmax: float) -> None:
        if not vmax > vmin:
            vmax = vmin + 1e-6
        cax = self.fig.add_axes([
            left / self.width, 1 - (top + height) / self.height,
            COLORBAR_W / self.width, height / self.height
        ])
        bar = self.fig.colorbar(
            ScalarMappable(Normalize(vmin, vmax), colormaps[HEAT_CMAP]),
            cax=cax)
        ticks = np.linspace(vmin, vmax, 4)
        bar.set_ticks(ticks)
        labels = bar.ax.set_yticklabels([f'{v:.3g}' for v in ticks])
        # The end labels stay within the bar's height, off the next row.
        labels[0].set_verticalalignment('bottom')
        labels[-1].set_verticalalignment('top')
        bar.ax.tick_params(labelsize=7, length=2, pad=1)

    def render(self) -> np.ndarray:
        self.fig.canvas.draw()
        rgb = np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()
        assert rgb.shape[:2] == (self.height, self.width), rgb.shape
        return rgb


class PanelRows:
    """A :class:`Sheet` of one row of image panels per image under column
    titles, with a line of caption under each row (the mask and
    restoration pictures). ``panels`` records, for each column name, the
    (top, left, height, width) of every row's panel.

    Args:
        widths (Sequence[int]): Column widths, panel and gap after it.
        titles (Sequence[str]): Column titles, up to two lines.
        names (Sequence[str]): Column names, the keys of ``panels``.
        shape (tuple): (h, w) of a panel.
        num (int): Number of rows.
    """

    def __init__(self, widths: Sequence[int], titles: Sequence[str],
                 names: Sequence[str], shape: Tuple[int,
                                                    int], num: int) -> None:
        self.lefts = column_lefts(widths)
        self.sheet = Sheet(MARGIN + sum(widths) + MARGIN,
                           MARGIN + TITLE_H + num * (shape[0] + CAPTION_H))
        for left, title in zip(self.lefts, titles):
            self.sheet.text(
                left + PANEL / 2, MARGIN + TITLE_H - 4, title, va='bottom')
        self.names, self.shape = list(names), shape
        self.panels = {name: [] for name in names}

    def top(self, row: int) -> int:
        return MARGIN + TITLE_H + row * (self.shape[0] + CAPTION_H)

    def add_row(self, row: int, content: Sequence[np.ndarray]) -> None:
        """Paste one panel per column."""
        top = self.top(row)
        for name, left, panel in zip(self.names, self.lefts, content):
            self.sheet.image(panel, top, left)
            self.panels[name].append((top, left, *self.shape))

    def caption(self, row: int, column: int, text: str) -> None:
        self.sheet.text(
            self.lefts[column] + PANEL / 2,
            self.top(row) + self.shape[0] + 2,
            text,
            va='top',
            fontsize=8)


def panel_shape(images: torch.Tensor, width: int) -> Tuple[int, int]:
    """(h, w) of a panel ``width`` pixels wide showing ``images``."""
    h, w = images.shape[-2:]
    return max(1, round(width * h / w)), width


def resize_rgb(rgb: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, *shape, 3): pixels shown as blocks when
    enlarged, anti-aliased when reduced."""
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float()
    if shape[0] >= x.shape[-2]:
        x = F.interpolate(x, size=shape, mode='nearest')
    else:
        x = F.interpolate(
            x,
            size=shape,
            mode='bilinear',
            align_corners=False,
            antialias=True)
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def cell_map(grid: Tuple[int, int],
             shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Patch row of every pixel row and patch column of every pixel column
    of a panel: pixel y lies in patch row floor(y * gh / ph)."""
    rows = np.arange(shape[0]) * grid[0] // shape[0]
    cols = np.arange(shape[1]) * grid[1] // shape[1]
    return rows, cols


def draw_masked_cells(panel: np.ndarray, mask: np.ndarray,
                      grid: Tuple[int, int]) -> np.ndarray:
    """Paint the masked patches of one panel grey with hatching.

    Args:
        panel (ndarray): (h, w, 3) uint8.
        mask (ndarray): (L, ) bool, L = gh * gw in the backbone's order.
        grid (tuple): (gh, gw).
    """
    rows, cols = cell_map(grid, panel.shape[:2])
    masked = mask.reshape(grid)[rows][:, cols]
    yy, xx = np.mgrid[0:panel.shape[0], 0:panel.shape[1]]
    hatch = (yy + xx) % 8 < 2
    out = panel.copy()
    out[masked] = MASK_FILL
    out[masked & hatch] = MASK_HATCH
    return out


def heat(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """(..., ) floats -> (..., 3) uint8 colours of the heat map."""
    scaled = (values - vmin) / max(vmax - vmin, 1e-12)
    rgba = colormaps[HEAT_CMAP](np.clip(scaled, 0, 1))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def upsample_map(values: torch.Tensor, grid: Tuple[int, int],
                 shape: Tuple[int, int], mode: str) -> np.ndarray:
    """(B, L) -> (B, *shape) float maps, bilinear or nearest (patches as
    blocks, exactly on the cells of :func:`cell_map`)."""
    maps = values.float().cpu().reshape(-1, 1, *grid)
    if mode == 'nearest':
        rows, cols = cell_map(grid, shape)
        return maps[:, 0][:, rows][:, :, cols].numpy()
    up = F.interpolate(maps, size=shape, mode='bilinear', align_corners=False)
    return up[:, 0].numpy()


def column_lefts(widths: Sequence[int], start: int = MARGIN) -> List[int]:
    """Left edges of columns of the given widths, from ``start``."""
    lefts, x = [], start
    for w in widths:
        lefts.append(x)
        x += w
    return lefts


def save_picture(picture: np.ndarray, path: str) -> str:
    """Write an RGB uint8 picture as a PNG; returns the path."""
    from PIL import Image
    Image.fromarray(picture).save(path)
    return path
