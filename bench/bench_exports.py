"""Exports for other libraries: sequences exported a second and bytes a sequence, per format.

Builds configs/demo.yaml's dataset (real MNIST from the package's sample, 20 x 64 x 64, its
default annotations) with SEQUENCES test sequences, then times, in this process, with the
sides alternated and each one's best of REPEATS kept:

- the baseline: reading the split with its annotations through movmnist.open in chunks of
  256 (what every export does first), and the npy export (arrays: frames only);
- `export --format` webdataset, hf and croissant (which reads no frames: it hashes the shards);
- the hf choice: the frames alone as one Parquet column, as the Array3D the export writes
  (nested lists) and as .npy bytes in a binary column (the alternative, not shipped);
- the webdataset choice: the frames member of a sample as .npy bytes (what the export writes)
  and as a stack of PNGs, one a frame (imageio, zlib level 1, the lossless image alternative,
  not shipped), for the same 512 sequences: encoding seq/s and bytes.

Prints a table of seq/s, bytes/seq and the ratio to the read baseline, with the load
average before and after (the machine is shared), and merges the figures into results.json.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import best_of, build_demo_test, record

SEQUENCES = 2000
REPEATS = 3


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import movmnist
    from movmnist.tools.exports import export
    from movmnist.tools.exports.huggingface import column, features

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "mm"
        build_demo_test(data, SEQUENCES)
        ds = movmnist.open(data)
        sizes: dict[str, int] = {}

        def read() -> float:
            started = time.perf_counter()
            for _ in ds["test"].with_annotations().chunks(256):
                pass
            return SEQUENCES / (time.perf_counter() - started)

        def exporting(fmt: str, name: str) -> float:
            out = root / name
            started = time.perf_counter()
            export(ds, out, format=fmt, split=None if fmt == "croissant" else "test", overwrite=True)
            seconds = time.perf_counter() - started
            sizes[fmt] = _size(out)
            if out.is_dir():
                shutil.rmtree(out)
            else:
                out.unlink()
            return SEQUENCES / seconds

        frames = ds["test"][:512]
        kinds = features({"frames": frames[:1]}).arrow_schema.field("frames").type
        parquet: dict[str, int] = {}

        def frames_column(kind: str) -> float:
            started = time.perf_counter()
            if kind == "Array3D":
                values = column(frames, kinds)
            else:
                blobs = []
                for sequence in frames:
                    buf = io.BytesIO()
                    np.save(buf, sequence)
                    blobs.append(buf.getvalue())
                values = pa.array(blobs, pa.binary())
            buf = io.BytesIO()
            pq.write_table(pa.table({"frames": values}), buf, compression="zstd", row_group_size=256)
            parquet[kind] = buf.tell()
            return len(frames) / (time.perf_counter() - started)

        members: dict[str, int] = {}

        def frames_member(kind: str) -> float:
            import imageio.v3 as iio

            started = time.perf_counter()
            size = 0
            for sequence in frames:
                if kind == "npy":
                    buf = io.BytesIO()
                    np.save(buf, sequence)
                    size += buf.tell()
                else:
                    size += sum(len(iio.imwrite("<bytes>", f, extension=".png", compress_level=1)) for f in sequence)
            members[kind] = size
            return len(frames) / (time.perf_counter() - started)

        rates = best_of(
            {
                "read (baseline)": read,
                "npy": lambda: exporting("npy", "t.npy"),
                "webdataset": lambda: exporting("webdataset", "wds"),
                "hf": lambda: exporting("hf", "hf"),
                "croissant": lambda: exporting("croissant", "c.json"),
                "frames as Array3D": lambda: frames_column("Array3D"),
                "frames as .npy bytes": lambda: frames_column("npy bytes"),
                "wds member .npy": lambda: frames_member("npy"),
                "wds member PNG stack": lambda: frames_member("png"),
            },
            REPEATS,
        )
        hdf5 = sum(p.stat().st_size for p in data.glob("*.h5"))
    load_after = os.getloadavg()
    base = rates["read (baseline)"]
    bytes_per = {
        "read (baseline)": hdf5 / SEQUENCES,
        **{f: sizes[f] / SEQUENCES for f in sizes},
        "frames as Array3D": parquet["Array3D"] / 512,
        "frames as .npy bytes": parquet["npy bytes"] / 512,
        "wds member .npy": members["npy"] / 512,
        "wds member PNG stack": members["png"] / 512,
    }
    print(f"{SEQUENCES} test sequences of 20x64x64 (configs/demo.yaml, its annotations); best of {REPEATS}")
    print(f"{'export':<24} {'seq/s':>9} {'/ read':>7} {'bytes/seq':>10}")
    for name, value in rates.items():
        print(f"{name:<24} {value:>9,.0f} {value / base:>6.2f}x {bytes_per[name]:>10,.0f}")
    print("(read: the HDF5 shards' bytes; croissant: the JSON's; frames as / wds member: 512 sequences, frames only)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} CPUs)")
    record(
        "exports",
        {
            "sequences": SEQUENCES,
            "rows": {
                name: {
                    "seq_per_s": round(value),
                    "ratio_to_read": round(value / base, 3),
                    "bytes_per_seq": round(bytes_per[name]),
                }
                for name, value in rates.items()
            },
            "load_average": {"before": load_before, "after": load_after},
        },
    )


if __name__ == "__main__":
    main()
