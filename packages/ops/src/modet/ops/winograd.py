"""3x3 stride-1 convolution by Winograd's F(4x4, 3x3) transform, in PyTorch's own products.

Lavin and Gray (2016): each 4x4 block of output is ``A^T [(G g G^T) * (B^T d B)] A`` for the
6x6 input tile ``d`` under it and the kernel ``g``, so a tile costs 36 products per channel pair
where the direct convolution spends 144: the 36 tile positions become 36 matrix products of
(tiles x in-channels) by (in-channels x out-channels), which run at the CPU's GEMM peak. The
result is the convolution's up to float rounding (about 1e-5 relative, a few times oneDNN's).

Channels-last throughout; tiles go in blocks of about ``_TILES_PER_BLOCK`` (whole images of a
region batch, or bands of tile rows of a large map) so that a block's transformed tiles stay
in cache and its buffers are reused rather than freshly paged in.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["winograd_conv3x3"]

_TILES_PER_BLOCK = 256


@functools.cache
def _transforms(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The F(4x4, 3x3) input, kernel and output transforms as Kronecker products over a tile's
    rows and columns: (36, 36), (36, 9) and (16, 36) matrices on flattened tiles."""
    input_transform = torch.tensor(
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        dtype=torch.float64,
    )
    kernel_transform = torch.tensor(
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        dtype=torch.float64,
    )
    output_transform = torch.tensor(
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
        dtype=torch.float64,
    )
    to_tiles, kernel, to_output = (
        torch.kron(m, m).to(dtype) for m in (input_transform, kernel_transform, output_transform)
    )
    return to_tiles, kernel, to_output


def winograd_conv3x3(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: tuple[int, int] = (1, 1)
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` for a 3x3 kernel, stride 1, no groups;
    the result is channels-last. Not differentiable (inference only)."""
    batch, channels, height, width = x.shape
    out_channels = weight.shape[0]
    if weight.shape[1:] != (channels, 3, 3):
        raise ValueError(f"winograd_conv3x3 needs a (K, {channels}, 3, 3) kernel, got {tuple(weight.shape)}")
    pad_y, pad_x = padding
    out_height, out_width = height + 2 * pad_y - 2, width + 2 * pad_x - 2
    if out_height <= 0 or out_width <= 0:
        raise ValueError(f"winograd_conv3x3: a {height}x{width} map with padding {padding} has no output")
    tile_rows, tile_cols = -(-out_height // 4), -(-out_width // 4)

    padded = x.new_zeros((batch, 4 * tile_rows + 2, 4 * tile_cols + 2, channels))
    padded[:, pad_y : pad_y + height, pad_x : pad_x + width] = x.permute(0, 2, 3, 1)
    to_tiles, kernel_transform, to_output = _transforms(x.dtype)
    # (36, C, K): the transformed kernel, as each tile position's right-hand matrix.
    kernel = torch.mm(kernel_transform, weight.permute(2, 3, 1, 0).reshape(9, channels * out_channels))
    kernel = kernel.view(36, channels, out_channels)
    out = x.new_empty((batch, out_height, out_width, out_channels))
    blocks = list(_blocks(batch, tile_rows, tile_cols))
    most_tiles = max((images.stop - images.start) * (rows.stop - rows.start) for images, rows in blocks) * tile_cols
    # One set of buffers for every block: fresh pages cost more than the arithmetic here.
    transformed_buffer = x.new_empty(36 * most_tiles * channels)
    products_buffer = x.new_empty(36 * most_tiles * out_channels)
    output_buffer = x.new_empty(16 * most_tiles * out_channels)

    for images, rows in blocks:
        block = padded[images, 4 * rows.start : 4 * rows.stop + 2]
        n_images, n_rows = block.shape[0], rows.stop - rows.start
        stride_n, stride_y, stride_x, _ = block.stride()
        tiles = block.as_strided(  # (6, 6, images, tile rows, tile columns, C): a view, overlapping
            (6, 6, n_images, n_rows, tile_cols, channels), (stride_y, stride_x, stride_n, 4 * stride_y, 4 * stride_x, 1)
        )
        n_tiles = n_images * n_rows * tile_cols
        transformed = transformed_buffer[: 36 * n_tiles * channels].view(36, n_tiles * channels)
        torch.mm(to_tiles, tiles.reshape(36, n_tiles * channels), out=transformed)
        products = products_buffer[: 36 * n_tiles * out_channels].view(36, n_tiles, out_channels)
        torch.bmm(transformed.view(36, n_tiles, channels), kernel, out=products)
        blocks_out = output_buffer[: 16 * n_tiles * out_channels].view(16, n_tiles * out_channels)
        torch.mm(to_output, products.view(36, n_tiles * out_channels), out=blocks_out)
        blocks_out = blocks_out.view(4, 4, n_images, n_rows, tile_cols, out_channels).permute(2, 3, 0, 4, 1, 5)
        _place(blocks_out, out[images, 4 * rows.start : 4 * rows.stop], bias)
    return out.permute(0, 3, 1, 2)


def _place(blocks_out: torch.Tensor, target: torch.Tensor, bias: torch.Tensor | None) -> None:
    """Write (images, tile rows, 4, tile columns, 4, K) output blocks, plus the bias, into their
    (images, height, width, K) part of the result, where the last blocks may overhang it."""
    _, height, width, _ = target.shape
    for source_rows, target_rows in _split(blocks_out.shape[1], height):
        for source_cols, target_cols in _split(blocks_out.shape[3], width):
            source = blocks_out[:, source_rows[0], : source_rows[1], source_cols[0], : source_cols[1]]
            destination = target[:, target_rows, target_cols]
            destination = destination.unflatten(1, (-1, source.shape[2])).unflatten(3, (-1, source.shape[4]))
            if bias is None:
                destination.copy_(source)
            else:
                torch.add(source, bias, out=destination)


def _split(tiles: int, size: int) -> list[tuple[tuple[slice, int], slice]]:
    """The whole 4-wide tiles of ``tiles`` covering ``size`` pixels, and the cut last one if any:
    ((tile slice, pixels taken per tile), pixel slice) pairs."""
    whole = min(tiles, size // 4)
    parts = [((slice(0, whole), 4), slice(0, 4 * whole))] if whole else []
    if whole < tiles:
        parts.append(((slice(whole, whole + 1), size - 4 * whole), slice(4 * whole, size)))
    return parts


def _blocks(batch: int, tile_rows: int, tile_cols: int):
    """(images, tile rows) slices of about ``_TILES_PER_BLOCK`` tiles: whole images when an image
    has fewer tiles than that, else bands of one image's tile rows."""
    per_image = tile_rows * tile_cols
    if per_image <= _TILES_PER_BLOCK:
        step = max(1, _TILES_PER_BLOCK // per_image)
        for start in range(0, batch, step):
            yield slice(start, min(start + step, batch)), slice(0, tile_rows)
        return
    band = max(1, _TILES_PER_BLOCK // tile_cols)
    for image in range(batch):
        for start in range(0, tile_rows, band):
            yield slice(image, image + 1), slice(start, min(start + band, tile_rows))
