"""The demo models' training recipe (`python -m vitdemo.train.shapes`), as small named pieces.

A client of the fine-tuning engine's shared parts: schedule and optimiser (`train/optim.py`),
normalisation (`train/augment.py`), metrics (`train/metrics.py`), checkpoints
(`train/checkpoints.py`) and device choice (`train/device.py`). What is its own lives here:
`config` (settings and the recorded stages), `archs`, `rendered_set` (pre-rendered data with
symmetry augmentation), `token_labels`, `distillation`, `progressive_resizing`, `mimetic_init`,
`hybrid_stem`, `validation`, `history`, `cards` (export and evaluation) and `loop` (`train`).

Recipe (why each piece is there — from-scratch training on 2 CPU cores is slow to leave chance):
  * Pre-rendered data (uint8 memmap) with flips and 90° turns as free augmentation: rendering is
    as expensive as a training step on this CPU, so each image is rendered once and seen 8 ways.
  * The ResNet first, mostly at low resolution (progressive resizing: fast.ai, FixRes): 2,380 steps
    at 96 px (about 5× cheaper per image), easy images (large, little clutter) for the first 10 %
    (a curriculum), then 1,420 steps at 224 px in the same schedule, where full-size accuracy
    follows within a few hundred steps.
  * Token labelling (Jiang et al. 2021, "All Tokens Matter"): an auxiliary linear head predicts,
    for every patch token (ViT) or feature-map cell (ResNet), the share of that cell covered by the
    object and its class, from the generator's ground-truth mask. Dense supervision teaches the
    models where the object is; the auxiliary head is dropped at export (plain timm models).
  * demo-vit has a convolutional stem (Xiao et al. 2021, "Early Convolutions Help Transformers See
    Better"): four 3×3 stride-2 convolutions make the 14×14 patch tokens (receptive field 31 px,
    about two patches) instead of one linear 16×16 projection. A plain patch-16 ViT of the same size
    was at 44 % after 150k images; this one reached 97.8 % after 333k images (112 minutes), trained
    mostly at 112 px (progressive resizing, position embeddings resampled) and, from its second
    stage, distilled from the trained ResNet's soft predictions (Hinton et al. 2015; DeiT).
  * demo-hybrid is the ViT paper's hybrid (Dosovitskiy et al. 2021, §3.1; timm's R26/R50+ViT): the
    trained ResNet's first three stages, frozen, make the 14×14 tokens, and the transformer learns
    to read them, in 600 steps (11 minutes).
  * AdamW, batch 32, linear warm-up then cosine decay, weight decay 0.05, label smoothing 0.1,
    gradient clipping 1.0, channels-last convolutions; narrow models (ResNet 32..256 wide, one block
    per stage; both ViTs 128 wide × 6 layers × 4 heads).
  * `RECIPES` (in `config.py`) is the exact schedule; runs resume from `training/shapes/<arch>.ckpt.pt`
    (committed), so a run can span sessions. Every invocation's steps, minutes and flags are in the
    card's `training.history`. Distillation from a teacher's soft predictions (`--distill-weight`) is
    available for custom runs.
  * With a GPU (`--device auto` uses it, bf16 autocast) the whole recipe takes minutes.
"""
