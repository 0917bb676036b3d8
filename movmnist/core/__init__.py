"""core: the pure numpy generator. A chunk of sequences is a function of (config, pool, split, indices).

Lives here: `rng` (keyed randomness), `motion/` (the presets' rules), `render` (sprites
onto frames, with the compiled kernel `_kernel.c` behind `compiled`), `layers` (warped
whole-canvas digits, mmnist++), `annotate` (ground truth from motion and masks), `flow` (optical
flow of the translated digits, from each digit drawn alone, and of mmnist++'s warped layers),
`tracks` (query points followed through each digit's motion, with occlusion), `pool`
(the sprite `Pool` type), `scene` (a chunk's latent state, which generate builds and
annotate reads) and `generate` (all of it, for a chunk).

May import: numpy, the standard library, `movmnist.errors` and `movmnist.config` (the
frozen config it is handed, and the catalogues). Must not import: any I/O library (h5py,
yaml, imageio, click, tensorflow_datasets, PIL) or any other movmnist layer; no file,
network or global state. tests/test_layers.py enforces it.
"""
