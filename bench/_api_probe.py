"""The Python API on one file, for bench/bad_table.py: ``python bench/_api_probe.py ROLE FILE STYLE``.

ROLE content / style: ``stylegram.transfer`` with the file in that role (tiny size, random net).
A StylegramError is the API's clean refusal: its message is printed as one line, exit 2, as the
CLI does; any other exception escapes with its traceback (a FAIL in the table)."""
import sys

import stylegram

role, path, other = sys.argv[1:4]
content, style = (path, other) if role == "content" else (other, path)
try:
    r = stylegram.transfer(content, style, size=64, iters=2, net="random-tiny", device="cpu")
    assert r.image.shape[1] == 3 and 0 <= float(r.image.min()) and float(r.image.max()) <= 1
except stylegram.StylegramError as e:
    print(f"stylegram: error: {e}", file=sys.stderr)
    sys.exit(2)
