"""Media I/O: the only code in stylegram that reads or writes files."""
from .image import check_output_path, load_image, read_image, save_image, write_atomic

__all__ = ["check_output_path", "load_image", "read_image", "save_image", "write_atomic"]
