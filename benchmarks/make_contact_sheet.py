"""Draw docs/contact_sheet.png: demo galaxies of every morphology and anomaly kind, one row each.

Usage: python benchmarks/make_contact_sheet.py [--out docs/contact_sheet.png] [--per-row 8] [--size 64] [--zoom 1]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from astroexplore.demo.render import render_galaxy
from astroexplore.demo.survey import ANOMALY_KINDS, MORPHOLOGY_SHARES, ANOMALY_HOST, galaxy_rng, sample_params


def contact_sheet(per_row: int = 8, size: int = 64, zoom: int = 1, seed: int = 0) -> Image.Image:
    rows = [(m, "none") for m in MORPHOLOGY_SHARES]
    for kind in ANOMALY_KINDS:
        host = ANOMALY_HOST[kind]
        rows.append((host or "spiral", kind))
    label_w = 150
    tile = size * zoom
    sheet = Image.new("RGB", (label_w + per_row * (tile + 2), len(rows) * (tile + 2)), (30, 30, 30))
    draw = ImageDraw.Draw(sheet)
    for r, (morph, anom) in enumerate(rows):
        draw.text((6, r * (tile + 2) + tile // 2 - 6), anom if anom != "none" else morph, fill=(230, 230, 230))
        for c in range(per_row):
            m = morph
            if anom in ("satellite_trail", "diffraction_spikes", "bad_column"):
                m = ("spiral", "elliptical", "edge_on", "barred_spiral")[c % 4]
            rng = galaxy_rng(seed, 1000 * r + c)
            img = render_galaxy(sample_params(m, anom, rng), size, rng)
            im = Image.fromarray((img * 255 + 0.5).astype(np.uint8)).resize((tile, tile), Image.NEAREST)
            sheet.paste(im, (label_w + c * (tile + 2), r * (tile + 2)))
    return sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "contact_sheet.png"))
    ap.add_argument("--per-row", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--zoom", type=int, default=1)
    args = ap.parse_args()
    contact_sheet(args.per_row, args.size, args.zoom).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
