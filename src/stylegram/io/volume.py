"""Volumes in and out: NIfTI (nibabel), .npy arrays and DICOM series (pydicom); intensity
windowing to 0..1 and back; the affine (voxel -> world, mm) is carried through; PNG previews of
the three orthogonal mid-slices.

A volume tensor is (1, C, D0, D1, D2) in 0..1, axes in the file's array order (C = 1 for scans,
3 for colour solid textures).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, InputError, whole
from .image import existing_file, load_npy, other_media_hint, save_npy, write_atomic

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".npy")


@dataclass(frozen=True)
class Volume:
    """data: float32 array (D0, D1, D2) in the file's units (or (D0, D1, D2, 3) for colour);
    affine: 4 x 4 voxel-to-world matrix (mm, or ``header["units"]``); source: the file it came from;
    header: what a NIfTI file said beside its affine, for ``save_volume`` to write back: ``units``
    (its spatial unit: "mm", "micron", "meter" or "unknown"), ``qform_code`` (for a qform holding
    ``affine``: the file's, or its sform's where its own qform was another matrix), ``sform_code`` and
    ``descrip`` (empty for .npy and DICOM, whose affines are in mm); ``volumes``: how many volumes a 4D
    file held (only the first is read)."""

    data: np.ndarray
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    source: str = ""
    header: dict = field(default_factory=dict)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along each array axis, mm (the column norms of the affine)."""
        return spacing_of(self.affine)


def suffix_of(path: str | os.PathLike) -> str:
    name = str(path).lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def _check(a: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    if a.dtype.kind not in "fiub":
        raise InputError(f"{path}: array of {a.dtype} is not numeric")
    if a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    if a.ndim == 4 and a.shape[3] > 1:
        # A 4D series (fMRI, multi-echo): keep the first volume rather than guessing.
        a = a[..., 0]
    if a.ndim != 3:
        shape = " x ".join(map(str, a.shape))
        raise InputError(f"{path}: array is {a.ndim}D ({shape}), a volume needs 3 axes; "
                         "for a 2D image use `stylegram transfer`")
    if min(a.shape) < 2:
        raise InputError(f"{path}: volume {a.shape} is flat along one axis; give at least 2 voxels per axis")
    a = np.asarray(a, dtype=np.float32)
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise InputError(f"{path}: volume contains {bad} NaN/Inf voxel(s); fill or mask them before styling")
    return a


def _series(a: np.ndarray) -> dict:
    """{"volumes": n} for a 4D array of n > 1 volumes (of which ``_check`` keeps the first), else {}."""
    return {"volumes": int(a.shape[3])} if a.ndim == 4 and a.shape[3] > 1 else {}


def _read_dicom_series(paths: list[Path], where: str | os.PathLike) -> Volume:
    import pydicom
    from pydicom.errors import InvalidDicomError

    slices = []
    for p in paths:
        try:
            ds = pydicom.dcmread(str(p))
            px = ds.pixel_array.astype(np.float32)
        except (InvalidDicomError, AttributeError, OSError, ValueError, RuntimeError) as e:
            raise InputError(f"{p}: not a readable DICOM image ({type(e).__name__}); remove it from {where}") from None
        px = px * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
        slices.append((ds, px))
    if len(slices) == 1 and slices[0][1].ndim == 3:  # one multi-frame file
        ds, data = slices[0]
        thick = float(getattr(ds, "SliceThickness", 1) or 1)
        ps = [float(v) for v in getattr(ds, "PixelSpacing", [1, 1])]
        return Volume(_check(data, where), np.diag([thick, ps[0], ps[1], 1.0]), str(where))
    if len(slices) < 2:
        raise InputError(f"{where}: one DICOM slice is an image, not a volume; give the folder of the whole series")

    # Orientation (DICOM PS3.3 C.7.6.2): a pixel (column c, row r) of a slice lies at
    # IPP + c dc X + r dr Y in LPS millimetres, X and Y the two direction cosines of
    # ImageOrientationPatient; slices are ordered along their normal X x Y.
    iop = getattr(slices[0][0], "ImageOrientationPatient", None)
    x_dir, y_dir = (np.array([float(v) for v in iop[:3]]), np.array([float(v) for v in iop[3:6]])) \
        if iop is not None and len(iop) == 6 else (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    normal = np.cross(x_dir, y_dir)

    def ipp(item) -> np.ndarray | None:
        v = getattr(item[0], "ImagePositionPatient", None)
        return None if v is None else np.array([float(c) for c in v])

    def pos(item) -> float:
        p = ipp(item)
        return float(p @ normal) if p is not None else float(getattr(item[0], "InstanceNumber", 0) or 0)

    slices.sort(key=pos)
    shapes = {s[1].shape for s in slices}
    if len(shapes) != 1:
        raise InputError(f"{where}: DICOM slices have different sizes {sorted(shapes)}; is it one series?")
    data = np.stack([s[1] for s in slices])
    ds0 = slices[0][0]
    dr, dc = [float(v) for v in getattr(ds0, "PixelSpacing", [1, 1])]  # between rows, between columns
    first, second = ipp(slices[0]), ipp(slices[1])
    if first is not None and second is not None and np.linalg.norm(second - first) > 0:
        step = second - first
    else:  # no positions: the slices' spacing along their normal, the origin unknown
        step = normal * (abs(pos(slices[1]) - pos(slices[0])) or float(getattr(ds0, "SliceThickness", 1) or 1))
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])  # NIfTI's world is RAS, DICOM's LPS
    affine = np.eye(4)
    affine[:3, 0] = lps_to_ras @ step
    affine[:3, 1] = lps_to_ras @ (y_dir * dr)
    affine[:3, 2] = lps_to_ras @ (x_dir * dc)
    if first is not None:
        affine[:3, 3] = lps_to_ras @ first
    return Volume(_check(data, where), affine, str(where))


def load_volume(path: str | os.PathLike) -> Volume:
    """Read a NIfTI file (.nii, .nii.gz), a .npy array, or a DICOM series (a folder of .dcm files,
    or one multi-frame .dcm). Raises InputError (one line) for missing, unreadable, non-3D or
    non-finite data."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        if not files:
            raise InputError(f"{path}: folder is empty; give a DICOM series folder or a volume file")
        return _read_dicom_series(files, path)
    existing_file(p, "a volume file (.nii, .nii.gz, .npy or .dcm)")
    sfx = suffix_of(p)
    if sfx == ".npy":
        a = load_npy(p)
        return Volume(_check(a, path), np.eye(4), str(path), _series(a))
    if sfx in (".nii", ".nii.gz"):
        import nibabel as nib
        try:
            img = nib.load(str(p))
            a = np.asarray(img.dataobj, dtype=np.float32)
        except Exception as e:  # nibabel raises many kinds for corrupt headers
            raise InputError(f"{path}: not a readable NIfTI file ({type(e).__name__}: {str(e)[:80]})") from None
        h = img.header
        # The affine is in the file's spatial unit: a microscope's micron volume written back as mm
        # claimed a field of view 1000 times its size, and an aligned (sform 2) one became scanner (1).
        qcode, scode = int(h["qform_code"]), int(h["sform_code"])
        if qcode and scode and not np.allclose(img.get_qform(), img.affine, atol=1e-4):
            # The output's qform holds this affine (the sform's), so it takes the sform's code: a
            # scanner qform (1) beside a template-aligned sform (2) came back as code 1 holding the
            # template's matrix, which readers that take the qform read as scanner coordinates.
            qcode = scode
        header = {"units": h.get_xyzt_units()[0], "qform_code": qcode, "sform_code": scode,
                  "descrip": bytes(h["descrip"].item()).split(b"\0")[0].decode("latin-1"), **_series(a)}
        return Volume(_check(a, path), np.asarray(img.affine, dtype=np.float64), str(path), header)
    if sfx == ".dcm":
        return _read_dicom_series([p], path)
    raise InputError(f"{path}: unknown volume type {sfx!r}; use .nii, .nii.gz, .npy or a DICOM folder"
                     f"{other_media_hint(p, 'volume')}")


def window(vol: Volume, center: float | None = None, width: float | None = None,
           percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[torch.Tensor, tuple[float, float]]:
    """Intensity windowing: data -> tensor (1, 1, D0, D1, D2) in 0..1, values outside the window
    clipped. The window is center +- width/2 (e.g. CT soft tissue 40, 400 HU), else the given
    percentiles of the data. Returns the tensor and (low, high) for ``unwindow``."""
    a = vol.data
    if center is not None and width is not None:
        if not width > 0:
            raise ConfigError(f"window width {width}: must be positive")
        lo, hi = center - width / 2, center + width / 2
    else:
        lo, hi = (float(v) for v in np.percentile(a, percentiles))
        if hi <= lo:
            lo, hi = float(a.min()), float(a.max())
        if hi <= lo:
            raise InputError(f"{vol.source or 'volume'}: all voxels equal {lo:g}; nothing to style")
    t = torch.from_numpy(np.clip((a - lo) / (hi - lo), 0, 1).astype(np.float32))
    return t[None, None], (lo, hi)


def unwindow(x: torch.Tensor, lo_hi: tuple[float, float]) -> np.ndarray:
    """(1, 1, D0, D1, D2) in 0..1 -> float32 array (D0, D1, D2) in the original units."""
    lo, hi = lo_hi
    return (x.detach().cpu().float()[0, 0].numpy() * (hi - lo) + lo).astype(np.float32)


def resize_volume(x: torch.Tensor, size: int, affine: np.ndarray | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Trilinear resize of (1, C, D0, D1, D2) so that its longest axis is ``size`` voxels; the
    affine's voxel axes are stretched by the same factors so the world geometry is unchanged."""
    if whole("size", size) < 1:  # 0 became a 2 x 2 x 2 volume and a message about its layers
        raise ConfigError(f"size {size}: must be 1 or more voxels (the longest axis)")
    shape = x.shape[2:]
    s = size / max(shape)
    new = tuple(max(2, round(n * s)) for n in shape)
    aff = np.array(affine if affine is not None else np.eye(4), dtype=np.float64)
    if new == tuple(shape):
        return x, aff
    y = torch.nn.functional.interpolate(x, size=new, mode="trilinear", align_corners=False)
    factors = np.array([o / n for o, n in zip(shape, new)])
    # Voxel centres with align_corners=False: new voxel j sits at old index (j + 0.5) f - 0.5, so the
    # origin (voxel 0's centre) moves by (f - 1) / 2 old voxels along each axis, and the field of
    # view stays where it was (without it the volume shifted by half a voxel's difference).
    aff[:3, 3] = aff[:3, 3] + aff[:3, :3] @ ((factors - 1) / 2)
    aff[:3, :3] = aff[:3, :3] * factors[None, :]
    return y, aff


# Voxels whose longest side is more than this times their shortest are styled on isotropic voxels
# (the 2D net's features would otherwise be stretched by the ratio along the coarse axes).
ANISOTROPY_LIMIT = 1.2


def spacing_of(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size along each array axis of a 4 x 4 voxel-to-world ``affine`` (its column norms)."""
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def anisotropy(spacing: tuple[float, ...]) -> float:
    """Longest voxel side / shortest (1.0 for cubic voxels; 3.0 for 1 x 1 x 3 mm)."""
    return max(spacing) / min(spacing) if min(spacing) > 0 else 1.0


def isotropic_shape(shape: tuple[int, ...], affine: np.ndarray) -> tuple[int, int, int]:
    """The grid (D0', D1', D2') over the same field of view as a (D0, D1, D2) grid of voxel axes
    ``affine`` whose voxels are about cubic, of that grid's finest spacing: each axis gets
    round(D * spacing / finest) voxels (at least 2), so no axis loses resolution."""
    sp = spacing_of(affine)
    fine = min(sp)
    return tuple(max(2, round(int(n) * v / fine)) for n, v in zip(shape, sp))


def resample(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """(1, C, D0, D1, D2) -> (1, C, *shape) by trilinear interpolation over the same field of view
    (align_corners=False: voxel centres at (j + 0.5) * D / D' - 0.5 of the input's). An axis whose
    size stays is copied exactly."""
    if tuple(x.shape[2:]) == tuple(shape):
        return x
    return torch.nn.functional.interpolate(x, size=tuple(int(v) for v in shape), mode="trilinear",
                                           align_corners=False)


def save_volume(data: np.ndarray, path: str | os.PathLike, affine: np.ndarray | None = None,
                header: dict | None = None) -> None:
    """Write an array (D0, D1, D2) or (D0, D1, D2, 3) as NIfTI (with ``affine``) or .npy, atomically.
    ``header`` (``Volume.header`` of the volume it came from) gives the NIfTI's spatial unit, its
    qform/sform codes and description; without it: mm, codes 1 (scanner), no description. A header
    whose codes are both 0 (an Analyze-style input) writes codes 0 and only the voxel sizes (the
    column norms of ``affine``), inventing no orientation."""
    header = header or {}
    sfx = suffix_of(path)
    aff = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    if sfx == ".npy":
        save_npy(path, np.asarray(data))
    elif sfx in (".nii", ".nii.gz"):
        import nibabel as nib
        if header.get("qform_code") == 0 and header.get("sform_code") == 0:
            # An Analyze-style file (both codes 0: only pixdim means anything): its affine is
            # nibabel's guess from the voxel sizes (x flipped, origin at the centre), which was
            # written back as a scanner orientation (codes 1). Only the voxel sizes go back, so a
            # reader makes the same guess for the output's grid.
            img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), None)
            img.header.set_zooms(spacing_of(aff) + tuple(img.header.get_zooms()[3:]))
            img.set_qform(None, code=0)
            img.set_sform(None, code=0)
        else:
            img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), aff)
            # both forms, as scanners write them (nibabel's default left the qform empty, code 0, which
            # readers that use only the qform take as no orientation at all); a code the input had kept
            sform = header.get("sform_code") or header.get("qform_code") or 1
            img.set_qform(aff, code=header.get("qform_code") or sform)
            img.set_sform(aff, code=sform)
        img.header.set_xyzt_units(header.get("units", "mm"))
        if header.get("descrip"):
            img.header["descrip"] = header["descrip"].encode("latin-1")[:79]
        p = Path(path)

        def write(tmp: Path) -> None:
            # nibabel picks gzip from the name, so write under a name that ends like the target.
            real = tmp.with_name(tmp.name + (".nii.gz" if sfx == ".nii.gz" else ".nii"))
            try:
                nib.save(img, str(real))
                os.replace(real, tmp)
            finally:  # a write cut short (a full disk) leaves no half file of its own beside tmp
                real.unlink(missing_ok=True)
        write_atomic(p, write)
    else:
        raise ConfigError(f"{path}: unknown volume output type {sfx!r}; use .nii, .nii.gz or .npy")


def mid_slices(x: torch.Tensor) -> list[torch.Tensor]:
    """The three orthogonal mid-slices of (1, C, D0, D1, D2) as (1, C, h, w) images."""
    d0, d1, d2 = x.shape[2:]
    return [x[:, :, d0 // 2], x[:, :, :, d1 // 2], x[:, :, :, :, d2 // 2]]


def save_previews(x: torch.Tensor, stem: str | os.PathLike, *, upscale: int = 1) -> list[Path]:
    """PNGs STEM.axis0.png, .axis1.png, .axis2.png of the mid-slices of (1, C, D0, D1, D2) in 0..1
    (grey volumes as grey pictures), nearest-neighbour upscaled by ``upscale``. Returns the paths."""
    from .image import save_image
    out = []
    for i, s in enumerate(mid_slices(x.detach().cpu().float().clamp(0, 1))):
        if s.shape[1] == 1:
            s = s.expand(1, 3, *s.shape[2:])
        if upscale > 1:
            s = torch.nn.functional.interpolate(s, scale_factor=upscale, mode="nearest")
        p = Path(f"{stem}.axis{i}.png")
        save_image(s, p)
        out.append(p)
    return out


def with_data(vol: Volume, data: np.ndarray, affine: np.ndarray | None = None) -> Volume:
    return replace(vol, data=data, affine=vol.affine if affine is None else affine)
