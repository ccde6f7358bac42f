"""fusion.volumes: the airspace file (parsing and every validation error), point in polygon
against matplotlib's Path as an independent reference (hand-picked points, fixed random
polygons, hypothesis-generated ones, across the antimeridian), the overlap rule, pair
minima and the eligibility rules."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path as MplPath

from fusion.config import FPM, FT, NM, ConfigError
from fusion.volumes import (
    EDGE_TOL_DEG,
    KT,
    AirspaceVolumes,
    Eligibility,
    FormationRule,
    GroundRule,
    Volume,
    load_volumes,
    volumes_from_dict,
)

F64 = npt.NDArray[np.float64]
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "airspace.example.toml"
SQUARE = ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0))  # (lat, lon)


def a(*values: float) -> F64:
    return np.array(values, dtype=np.float64)


def vol(
    name: str = "V",
    vertices: Any = SQUARE,
    floor_ft: float = 0.0,
    ceiling_ft: float = 10_000.0,
    sep_h_nm: float | None = 5.0,
    sep_v_ft: float | None = 1000.0,
    kind: str = "separation",
) -> Volume:
    inhibition = kind == "inhibition"
    return Volume(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        vertices_deg=tuple(vertices),
        floor_m=floor_ft * FT,
        ceiling_m=ceiling_ft * FT,
        sep_h_m=None if inhibition or sep_h_nm is None else sep_h_nm * NM,
        sep_v_m=None if inhibition or sep_v_ft is None else sep_v_ft * FT,
    )


# ------------------------------------------------------------------------- the file


def test_example_file() -> None:
    av = load_volumes(EXAMPLE)
    assert av.names() == ["TMA-EXAMPLE", "SECTOR-EXAMPLE", "TRA-EXAMPLE"]
    tma, sector, tra = av.volumes
    assert (tma.kind, sector.kind, tra.kind) == ("separation", "separation", "inhibition")
    assert tma.sep_h_m == pytest.approx(3 * 1852.0)
    assert sector.sep_h_m == pytest.approx(5 * 1852.0)
    assert tma.sep_v_m == sector.sep_v_m == pytest.approx(304.8)
    assert tra.sep_h_m is None and tra.sep_v_m is None
    assert tma.ceiling_m == pytest.approx(3048.0)
    assert (tra.floor_m, tra.ceiling_m) == pytest.approx((3048.0, 7620.0))
    assert len(tma.vertices_deg) == 6 and tma.vertices_deg[0] == (50.40, 8.20)
    e = av.eligibility
    assert e.excluded_mode3a == frozenset({0o7000})
    assert e.ground is not None
    assert e.ground.max_alt_m == pytest.approx(1500 * FT)
    assert e.ground.max_speed_mps == pytest.approx(50 * KT)
    assert e.formation is not None
    assert e.formation.max_dist_h_m == pytest.approx(1852.0)
    assert e.formation.max_dv_v_mps == pytest.approx(500 * FT / 60)
    # At the simulator's centre, low: the terminal area (listed first); above FL100: the
    # sector; in the training area's band: inhibited, but still in the sector.
    lat, lon, alt = (
        a(50.0, 50.0, 49.5, 49.5, 49.25),
        a(8.6, 8.6, 7.2, 7.2, 7.6),
        a(0, 4000, 4000, 2000, 4000),
    )
    assert av.volume_of(lat, lon, alt).tolist() == [0, 1, 1, 1, 1]
    assert av.inhibited(lat, lon, alt).tolist() == [False, False, True, False, False]


def test_doc_snippet(tmp_path: Path) -> None:
    doc = (EXAMPLE.parent / "volumes.md").read_text(encoding="utf-8")
    snippet = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    p = tmp_path / "snippet.toml"
    p.write_text(snippet)
    av = load_volumes(p)
    assert av.names() == ["TMA-EXAMPLE", "TRA-EXAMPLE"]
    assert av.eligibility.formation is not None and av.eligibility.ground is not None


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else "inf" if v > 0 else "-inf"
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(v)


def _volume_text(**over: Any) -> str:
    base: dict[str, Any] = {
        "name": "TMA-X",
        "kind": "separation",
        "floor_ft": 0,
        "ceiling_ft": 10000,
        "sep_h_nm": 3,
        "sep_v_ft": 1000,
        "polygon_latlon_deg": [[50, 8], [50, 9], [51, 9], [51, 8]],
    }
    base.update(over)
    body = "".join(f"{k} = {_toml(v)}\n" for k, v in base.items() if v is not None)
    return "[[volume]]\n" + body


INHIBITION = {"kind": "inhibition", "sep_h_nm": None, "sep_v_ft": None}
V = _volume_text
E = "[eligibility]\n"
GROUND = "[eligibility.ground]\n"
FORM = "[eligibility.formation]\nmax_dist_v_ft = 500\nmax_dv_h_kt = 20\n"
P = "'TMA-X': polygon_latlon_deg"


def poly(*vertices: tuple[float, float]) -> str:
    return V(polygon_latlon_deg=[list(v) for v in vertices])


# (file text, fragment the message must hold besides the file name), by case id
BAD_FILES = {
    "unknown-top": ("colour = 'red'\n", "unknown keys \\['colour'\\]"),
    "unknown-volume-key": (V(sep_h_km=3), "'TMA-X': unknown keys \\['sep_h_km'\\]"),
    "volume-not-array": ("volume = 3\n", "volume must be an array of tables"),
    "volume-not-table": ("volume = [3]\n", "volume\\[0\\] must be a table"),
    "name-missing": (V(name=None), "volume\\[0\\]: name must be a non-empty string"),
    "name-type": (V(name=7), "volume\\[0\\]: name must be a non-empty string"),
    "name-blank": (V(name="  "), "volume\\[0\\]: name must be a non-empty string"),
    "kind": (V(kind="danger"), "'TMA-X': kind must be one of"),
    "kind-missing": (V(kind=None), "'TMA-X': kind must be one of"),
    "description-type": (V(description=3), "'TMA-X': description must be a string"),
    "floor-type": (V(floor_ft="low"), "'TMA-X': floor_ft must be a number"),
    "floor-bool": (V(floor_ft=True), "'TMA-X': floor_ft must be a number"),
    "floor-nan": (V(floor_ft=math.nan), "'TMA-X': floor_ft must be a number, got nan"),
    "floor-missing": (V(floor_ft=None), "'TMA-X': floor_ft is missing"),
    "ceiling-missing": (V(ceiling_ft=None), "'TMA-X': ceiling_ft is missing"),
    "floor-eq-ceiling": (
        V(floor_ft=5000, ceiling_ft=5000),
        "'TMA-X': floor_ft \\(5000\\) must be below ceiling_ft \\(5000\\)",
    ),
    "floor-above-ceiling": (
        V(floor_ft=6000, ceiling_ft=5000),
        "'TMA-X': floor_ft \\(6000\\) must be below ceiling_ft",
    ),
    "floor-inf": (V(floor_ft=math.inf, ceiling_ft=math.inf), "'TMA-X': floor_ft \\(inf\\)"),
    "sep-h-zero": (V(sep_h_nm=0), "'TMA-X': sep_h_nm must be > 0"),
    "sep-h-negative": (V(sep_h_nm=-3), "'TMA-X': sep_h_nm must be > 0 and finite, got -3"),
    "sep-h-inf": (V(sep_h_nm=math.inf), "'TMA-X': sep_h_nm must be > 0 and finite"),
    "sep-v-zero": (V(sep_v_ft=0), "'TMA-X': sep_v_ft must be > 0"),
    "sep-v-type": (V(sep_v_ft="1000"), "'TMA-X': sep_v_ft must be a number"),
    "sep-h-missing": (V(sep_h_nm=None), "'TMA-X': sep_h_nm is required for a separation"),
    "sep-v-missing": (V(sep_v_ft=None), "'TMA-X': sep_v_ft is required for a separation"),
    "sep-on-inhibition": (
        V(**{**INHIBITION, "sep_h_nm": 3}),
        "'TMA-X': sep_h_nm applies to separation volumes only",
    ),
    "polygon-missing": (V(polygon_latlon_deg=None), f"{P} is missing"),
    "polygon-type": (V(polygon_latlon_deg="50,8"), f"{P} must be an array"),
    "vertex-length": (
        V(polygon_latlon_deg=[[50, 8], [50, 9, 0], [51, 9]]),
        f"{P}\\[1\\] must be \\[lat_deg, lon_deg\\]",
    ),
    "vertex-type": (
        V(polygon_latlon_deg=[[50, 8], [50, "9E"], [51, 9]]),
        f"{P}\\[1\\] must be \\[lat_deg, lon_deg\\]",
    ),
    "two-vertices": (poly((50, 8), (51, 9)), f"{P} needs at least 3 vertices, got 2"),
    "closed-two": (poly((50, 8), (51, 9), (50, 8)), f"{P}\\[2\\] and \\[0\\] are the same"),
    "lat-high": (poly((50, 8), (95, 9), (51, 9)), f"{P}\\[1\\]: latitude 95 outside \\[-90, 90\\]"),
    "lat-low": (poly((50, 8), (51, 9), (-90.5, 9)), f"{P}\\[2\\]: latitude -90.5 outside"),
    "lon-high": (poly((50, 181), (51, 9), (50, 9)), f"{P}\\[0\\]: longitude 181 outside"),
    "lon-low": (poly((50, 8), (51, 9), (50, -180.5)), f"{P}\\[2\\]: longitude -180.5 outside"),
    "pole-vertex": (poly((80, 0), (90, 0), (80, 90)), f"{P}\\[1\\]: a vertex on a pole"),
    "pole-inside": (poly((80, 0), (80, 120), (80, -120)), f"{P}: the polygon encircles a pole"),
    "edge-180": (poly((10, -90), (10, 90), (20, 90)), f"{P}: edge 0 spans 180 degrees"),
    "repeated-vertex": (
        poly((50, 8), (50, 9), (50, 9), (51, 9)),
        f"{P}\\[1\\] and \\[2\\] are the same point",
    ),
    "collinear": (poly((50, 8), (50, 9), (50, 10)), f"{P}: .*(turns back|zero area)"),
    "spike": (poly((50, 8), (50, 10), (50, 9), (51, 9)), f"{P}: .* turns back .* at vertex 1"),
    "bowtie": (poly((50, 8), (51, 9), (50, 9), (51, 8)), f"{P}: edges 0 and 2 cross or touch"),
    "touching": (
        poly((0, 0), (0, 4), (2, 2), (4, 4), (4, 0), (2, 2)),
        f"{P}: edges .* cross or touch",
    ),
    "duplicate-name": (V() + V(name="tma-x"), "'tma-x': name already used by volume 'TMA-X'"),
    "eligibility-type": ("eligibility = 3\n", "eligibility must be a table"),
    "eligibility-unknown": (E + "ground_ft = 3\n", "eligibility: unknown keys \\['ground_ft'\\]"),
    "codes-type": (
        E + "excluded_mode3a_octal = '7000'\n",
        "eligibility.excluded_mode3a_octal must be an array",
    ),
    "code-int": (
        E + "excluded_mode3a_octal = [7000]\n",
        "excluded_mode3a_octal\\[0\\]: 7000 is not four octal digits",
    ),
    "code-8": (
        E + "excluded_mode3a_octal = ['7000', '1280']\n",
        "excluded_mode3a_octal\\[1\\]: '1280' is not four octal digits",
    ),
    "code-short": (
        E + "excluded_mode3a_octal = ['700']\n",
        "excluded_mode3a_octal\\[0\\]: '700' is not four octal",
    ),
    "code-long": (
        E + "excluded_mode3a_octal = ['07000']\n",
        "excluded_mode3a_octal\\[0\\]: '07000' is not four octal",
    ),
    "code-emergency": (
        E + "excluded_mode3a_octal = ['7700']\n",
        "excluded_mode3a_octal: 7700 is an emergency code",
    ),
    "ground-type": (E + "ground = 3\n", "eligibility.ground must be a table"),
    "ground-unknown": (
        GROUND + "max_alt_ft = 1\nmax_speed_kt = 1\nmax_alt_m = 3\n",
        "eligibility.ground: unknown keys \\['max_alt_m'\\]",
    ),
    "ground-missing": (GROUND + "max_speed_kt = 50\n", "eligibility.ground: max_alt_ft is missing"),
    "ground-speed": (
        GROUND + "max_alt_ft = 1000\nmax_speed_kt = 0\n",
        "eligibility.ground.max_speed_kt must be > 0",
    ),
    "ground-alt-inf": (
        GROUND + "max_alt_ft = inf\nmax_speed_kt = 50\n",
        "eligibility.ground.max_alt_ft must be finite",
    ),
    "formation-missing": (
        FORM + "max_dist_h_nm = 1\n",
        "eligibility.formation: max_dv_v_fpm is missing",
    ),
    "formation-negative": (
        FORM + "max_dist_h_nm = -1\nmax_dv_v_fpm = 500\n",
        "eligibility.formation.max_dist_h_nm must be > 0 and finite, got -1",
    ),
    "formation-type": (
        FORM + "max_dist_h_nm = '1'\nmax_dv_v_fpm = 500\n",
        "eligibility.formation: max_dist_h_nm must be a number",
    ),
    "not-toml": ("[[volume]\n", "is not valid TOML"),
}


@pytest.mark.parametrize(("text", "fragment"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_give_clear_errors(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "airspace.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_volumes(p)
    assert str(p) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_volumes(tmp_path / "nope.toml")


def test_inhibition_volume_and_closing_vertex(tmp_path: Path) -> None:
    ring = [[50, 8], [50, 9], [51, 9], [51, 8], [50, 8]]  # closed as GeoJSON writes it
    p = tmp_path / "a.toml"
    p.write_text(_volume_text(**INHIBITION, polygon_latlon_deg=ring, floor_ft=-math.inf))
    (v,) = load_volumes(p).volumes
    assert v.kind == "inhibition" and v.floor_m == -math.inf
    assert len(v.vertices_deg) == 4
    assert volumes_from_dict({}).volumes == ()  # an empty file is valid: no volumes, no rules


# ----------------------------------------------------------------- point in polygon


def test_hand_picked_points() -> None:
    # Concave: a U opening north in (lon, lat); the notch 1 < lon < 3, lat > 1 is outside.
    u = vol(vertices=[(0, 0), (0, 4), (4, 4), (4, 3), (1, 3), (1, 1), (4, 1), (4, 0)])
    pts = [
        ((0.5, 0.5), True),  # inside the base
        ((3.5, 0.5), True),  # inside the left arm
        ((3.5, 3.5), True),  # inside the right arm
        ((2.0, 2.0), False),  # in the notch
        ((4.5, 2.0), False),  # north of it all
        ((-0.1, 2.0), False),  # south
        ((0.0, 0.0), True),  # a vertex
        ((1.0, 1.0), True),  # the reflex vertex
        ((1.0, 2.0), True),  # on the notch's floor edge
        ((2.5, 1.0), True),  # on the notch's west edge
        ((1.0 + 1e-6, 2.0), False),  # just inside the notch
        ((1.0 - 1e-6, 2.0), True),  # just inside the base
        ((0.0, 2.0), True),  # on the south edge
        ((math.nan, 2.0), False),
        ((2.0, math.inf), False),
    ]
    lat = a(*(p[0][0] for p in pts))
    lon = a(*(p[0][1] for p in pts))
    got = u.contains(lat, lon, np.zeros(lat.size))
    assert got.tolist() == [p[1] for p in pts]


def test_sloping_edge_and_altitude_band() -> None:
    tri = vol(vertices=[(0.0, 0.0), (3.0, 1.0), (0.0, 2.0)], floor_ft=1000, ceiling_ft=2000)
    # Midpoints of the two sloping edges are not exactly representable: within the tolerance.
    lat, lon = a(1.5, 1.5, 1.5 + 1e-8, 1.0, 1.0, 1.0, 1.0), a(0.5, 1.5, 0.5, 1.0, 1.0, 1.0, 1.0)
    alt = a(1500, 1500, 1500, 1000, 2000, 999.9, 2000.1) * FT
    assert tri.contains(lat, lon, alt).tolist() == [True, True, False, True, True, False, False]


def test_antimeridian() -> None:
    # 10..20 N, 170 E .. 170 W: one piece across 180.
    pac = vol(vertices=[(10, 170), (10, -170), (20, -170), (20, 170)])
    lat = a(15, 15, 15, 15, 15, 15, 10, 15, 15)
    lon = a(180, -180, 179.999, -179.999, 175, -175, -180, 169.9, -169.9)
    want = [True, True, True, True, True, True, True, False, False]
    assert pac.contains(lat, lon, np.zeros(lat.size)).tolist() == want
    # The far side of the globe is outside, however the longitude is written.
    assert not pac.contains(a(15, 15), a(0, 10), a(0, 0)).any()
    # An edge on the antimeridian itself, written as +180: points there at -180 are on it.
    east = vol(vertices=[(10, 170), (10, 180), (20, 180), (20, 170)])
    assert east.contains(a(15, 15, 15), a(-180, 180, -179.99), a(0, 0, 0)).tolist() == [
        True,
        True,
        False,
    ]
    west = vol(vertices=[(10, -180), (10, -170), (20, -170), (20, -180)])
    assert west.contains(a(15, 15, 15), a(180, -180, 179.99), a(0, 0, 0)).tolist() == [
        True,
        True,
        False,
    ]


def star(
    clat: float, clon: float, radius: float, angles_deg: list[int], radii: list[float]
) -> tuple[F64, F64]:
    """Vertices of a star-shaped polygon, float64[n] (x = unwrapped lon, y = lat): simple
    whenever consecutive angles are less than 180 degrees apart."""
    t = np.radians(np.array(angles_deg, dtype=np.float64))
    r = radius * np.array(radii, dtype=np.float64)
    return clon + r * np.cos(t), clat + r * np.sin(t)


def wrap(lon: F64) -> F64:
    return (lon + 180.0) % 360.0 - 180.0


def boundary_distance(x: F64, y: F64, px: F64, py: F64) -> F64:
    """Plain reference: each point's distance to the closed ring (x, y), in degrees."""
    out = np.full(px.size, np.inf)
    n = x.size
    for k in range(n):
        ax, ay, bx, by = x[k], y[k], x[(k + 1) % n], y[(k + 1) % n]
        dx, dy = bx - ax, by - ay
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        out = np.minimum(out, np.hypot(px - ax - t * dx, py - ay - t * dy))
    return out


def check_against_matplotlib(x: F64, y: F64, px: F64, py: F64) -> None:
    """Our contains on wrapped longitudes against matplotlib in the unwrapped plane; points
    within 1e-7 degree of the boundary are left out of the comparison, and those on it
    (within a tenth of the tolerance) must be inside."""
    v = vol(vertices=list(zip(y.tolist(), wrap(x).tolist(), strict=True)))
    got = v.contains(py, wrap(px), np.zeros(px.size))
    ref = MplPath(np.column_stack([x, y])).contains_points(np.column_stack([px, py]))
    dist = boundary_distance(x, y, px, py)
    clear = dist > 1e-7
    np.testing.assert_array_equal(got[clear], ref[clear])
    assert got[dist <= 0.1 * EDGE_TOL_DEG].all()


def test_random_polygons_against_matplotlib() -> None:
    rng = np.random.default_rng(7)
    for clat, clon in ((50.0, 8.6), (-33.9, 151.2), (0.0, 180.0), (65.0, -179.5), (-70, 0)):
        for _ in range(4):
            n = int(rng.integers(3, 25))
            angles = np.sort(rng.choice(360, size=n, replace=False))
            if np.max(np.diff(np.r_[angles, angles[0] + 360])) >= 180:
                continue
            x, y = star(clat, clon, 2.0, angles.tolist(), rng.uniform(0.2, 1.0, n).tolist())
            px = clon + rng.uniform(-2.4, 2.4, 400)
            py = clat + rng.uniform(-2.4, 2.4, 400)
            check_against_matplotlib(x, y, px, py)


@st.composite
def star_polygons(draw: st.DrawFn) -> tuple[float, float, float, list[int], list[float]]:
    angles = sorted(draw(st.sets(st.integers(0, 359), min_size=3, max_size=14)))
    gaps = np.diff([*angles, angles[0] + 360])
    if gaps.max() >= 180:  # keep the polygon simple: no gap of half a turn or more
        step = 360 // len(angles)
        angles = [k * step for k in range(len(angles))]
    radii = draw(st.lists(st.floats(0.2, 1.0), min_size=len(angles), max_size=len(angles)))
    clat = draw(st.floats(-80.0, 80.0))
    clon = draw(st.one_of(st.floats(-180.0, 180.0), st.sampled_from([-180.0, 179.5, 180.0])))
    radius = draw(st.sampled_from([0.05, 1.0, 5.0]))
    return clat, clon, radius, angles, radii


@settings(deadline=None)
@given(
    poly=star_polygons(),
    pts=st.lists(st.tuples(st.floats(-1.3, 1.3), st.floats(-1.3, 1.3)), max_size=40),
)
def test_generated_polygons_against_matplotlib(
    poly: tuple[float, float, float, list[int], list[float]], pts: list[tuple[float, float]]
) -> None:
    clat, clon, radius, angles, radii = poly
    x, y = star(clat, clon, radius, angles, radii)
    uv = np.array(pts, dtype=np.float64).reshape(-1, 2)
    # The vertices and the edge midpoints are on the boundary: they must be inside.
    px = np.concatenate([clon + radius * uv[:, 0], x, 0.5 * (x + np.roll(x, -1))])
    py = np.concatenate([clat + radius * uv[:, 1], y, 0.5 * (y + np.roll(y, -1))])
    check_against_matplotlib(x, y, px, py)


@settings(deadline=None, max_examples=50)
@given(poly=star_polygons(), shift=st.floats(-360.0, 360.0), seed=st.integers(0, 2**32 - 1))
def test_longitude_shift_invariance(
    poly: tuple[float, float, float, list[int], list[float]], shift: float, seed: int
) -> None:
    """Moving the polygon and the points by the same longitude, across the antimeridian or
    not, changes nothing (away from the boundary, where rounding may differ)."""
    clat, clon, radius, angles, radii = poly
    x, y = star(clat, clon, radius, angles, radii)
    rng = np.random.default_rng(seed)
    px = clon + radius * rng.uniform(-1.3, 1.3, 200)
    py = clat + radius * rng.uniform(-1.3, 1.3, 200)
    zero = np.zeros(px.size)
    here = vol(vertices=list(zip(y.tolist(), wrap(x).tolist(), strict=True)))
    there = vol(vertices=list(zip(y.tolist(), wrap(x + shift).tolist(), strict=True)))
    clear = boundary_distance(x, y, px, py) > 1e-7
    got_here = here.contains(py, wrap(px), zero)
    got_there = there.contains(py, wrap(px + shift), zero)
    np.testing.assert_array_equal(got_here[clear], got_there[clear])


# ---------------------------------------------------------------- overlap and minima


def test_first_listed_wins_where_volumes_overlap() -> None:
    tma = vol("TMA", [(0.4, 0.4), (0.4, 0.6), (0.6, 0.6), (0.6, 0.4)], sep_h_nm=3)
    enr = vol("ENR", SQUARE, sep_h_nm=5)
    lat, lon = a(0.5, 0.2, 0.4, 5.0, 0.5), a(0.5, 0.2, 0.5, 5.0, 0.5)
    alt = a(0, 0, 0, 0, 4000)
    assert AirspaceVolumes((tma, enr)).volume_of(lat, lon, alt).tolist() == [0, 1, 0, -1, -1]
    assert AirspaceVolumes((enr, tma)).volume_of(lat, lon, alt).tolist() == [0, 0, 0, -1, -1]
    # Inhibition volumes have no say in volume_of; indices stay positions in the file.
    inh = vol("INH", SQUARE, kind="inhibition")
    av = AirspaceVolumes((inh, tma, enr))
    assert av.volume_of(lat, lon, alt).tolist() == [1, 2, 1, -1, -1]
    assert av.inhibited(lat, lon, alt).tolist() == [True, True, True, False, False]


def test_shared_edge_and_shared_level_go_to_the_first() -> None:
    west = vol("W", [(0, 0), (0, 1), (1, 1), (1, 0)])
    east = vol("E", [(0, 1), (0, 2), (1, 2), (1, 1)])
    lat, lon, alt = a(0.5, 0.5, 0.5), a(1.0, 0.5, 1.5), a(0, 0, 0)
    assert AirspaceVolumes((west, east)).volume_of(lat, lon, alt).tolist() == [0, 0, 1]
    assert AirspaceVolumes((east, west)).volume_of(lat, lon, alt).tolist() == [0, 1, 0]
    low = vol("LOW", SQUARE, floor_ft=0, ceiling_ft=10_000)
    high = vol("HIGH", SQUARE, floor_ft=10_000, ceiling_ft=60_000)
    alt = a(9_999, 10_000, 10_001, 60_000, 60_001) * FT
    n = alt.size
    got = AirspaceVolumes((high, low)).volume_of(np.full(n, 0.5), np.full(n, 0.5), alt)
    assert got.tolist() == [1, 0, 0, 0, -1]


def test_pair_minima_takes_the_larger_per_axis() -> None:
    a3 = vol("A", [(0, 0), (0, 1), (1, 1), (1, 0)], sep_h_nm=3, sep_v_ft=2000)
    b5 = vol("B", [(0, 2), (0, 3), (1, 3), (1, 2)], sep_h_nm=5, sep_v_ft=1000)
    inh = vol("I", SQUARE, kind="inhibition")
    av = AirspaceVolumes((a3, inh, b5))
    vol_of = np.array([0, 2, -1, 0], dtype=np.int64)
    i = np.array([0, 0, 1, 2, 0], dtype=np.int64)
    j = np.array([3, 1, 2, 2, 2], dtype=np.int64)
    d, h = av.pair_minima(i, j, vol_of, 4 * NM, 1000 * FT)
    assert d.tolist() == pytest.approx([3 * NM, 5 * NM, 5 * NM, 4 * NM, 4 * NM])
    assert h.tolist() == pytest.approx([2000 * FT, 2000 * FT, 1000 * FT, 1000 * FT, 2000 * FT])
    assert av.max_minima(4 * NM, 1000 * FT) == pytest.approx((5 * NM, 2000 * FT))
    assert AirspaceVolumes().max_minima(4 * NM, 300.0) == (4 * NM, 300.0)
    empty = np.zeros(0, dtype=np.int64)
    d, h = av.pair_minima(empty, empty, vol_of, NM, FT)
    assert d.shape == h.shape == (0,)
    with pytest.raises(ValueError, match="inhibition"):
        av.pair_minima(i, j, np.array([1, 0, 0, 0], dtype=np.int64), NM, FT)
    with pytest.raises(ValueError, match="outside"):
        av.pair_minima(i, j, np.array([3, 0, 0, 0], dtype=np.int64), NM, FT)
    with pytest.raises(ValueError, match="default minima"):
        av.pair_minima(i, j, vol_of, 0.0, FT)


def test_lookups_check_shapes() -> None:
    av = AirspaceVolumes((vol(),))
    with pytest.raises(ValueError, match="1-D"):
        av.volume_of(a(0.5, 0.5), a(0.5), a(0.0, 0.0))
    with pytest.raises(ValueError, match="1-D"):
        av.eligible(a(0.0), a(0.0, 1.0), np.array([1]))


# ----------------------------------------------------------------------- eligibility


def test_ground_traffic_is_low_and_slow() -> None:
    e = Eligibility(ground=GroundRule(max_alt_m=1500 * FT, max_speed_mps=50 * KT))
    alt = a(0, 0, 3000, 3000, 1500, 0, math.nan, 0) * FT
    kt = a(10, 140, 10, 140, 10, 50, 10, math.nan) * KT
    want = [False, True, True, True, True, True, True, True]
    assert e.eligible(alt, kt, np.full(alt.size, -1)).tolist() == want


def test_excluded_codes() -> None:
    e = Eligibility(excluded_mode3a=frozenset({0o7000, 0o0021}))
    codes = np.array([0o7000, 0o0021, 7000, -1, 0o7700, 0o7001], dtype=np.int16)
    n = codes.size
    got = e.eligible(np.full(n, 5000.0), np.full(n, 200.0), codes)
    assert got.tolist() == [False, False, True, True, True, True]
    assert Eligibility().eligible(a(0.0), a(0.0), np.array([0o7000])).tolist() == [True]
    with pytest.raises(ConfigError, match="emergency"):
        Eligibility(excluded_mode3a=frozenset({0o7600}))
    with pytest.raises(ConfigError, match="not a Mode 3/A code"):
        Eligibility(excluded_mode3a=frozenset({0o10000}))


def test_formation() -> None:
    e = Eligibility(formation=FormationRule(1 * NM, 500 * FT, 20 * KT, 500 * FPM))
    half_nm = 0.5 / 60.0  # degrees of latitude, nearly half a nautical mile
    # Track 0 and variations of it, each differing in one respect; 6 and 7 across 180.
    lat = a(50, 50 + half_nm, 50, 50, 50, 50, 50, 15, 15, 50, 50 + 1.1 / 60)
    lon = a(8, 8, 8.02, 8, 8, 8, 8, 179.9999, -179.9999, 8, 8)
    alt = a(3000, 3000, 3000, 3000 + 600 * FT, 3000, 3000, 3000, 3000, 3000, math.nan, 3000)
    ve = a(200, 205, 200, 200, 200, 200, 200, 100, 100, 200, 200)
    vn = a(0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0)
    vu = a(0, 0, 0, 0, 0, 5, 2, 0, 0, 0, 0)
    i = np.array([0, 0, 0, 0, 0, 0, 7, 0, 0], dtype=np.int64)
    j = np.array([1, 2, 3, 4, 5, 6, 8, 9, 10], dtype=np.int64)
    got = e.in_formation(i, j, lat, lon, alt, ve, vn, vu)
    want = [
        True,  # 0.5 NM apart, 5 m/s (10 kt) faster
        True,  # 0.02 degree of longitude at 50 N: 0.77 NM
        False,  # 600 ft above
        False,  # 30 m/s (58 kt) crosswise
        False,  # climbing at 5 m/s (984 ft/min)
        True,  # climbing at 2 m/s (394 ft/min)
        True,  # across the antimeridian, 22 m apart
        False,  # unknown altitude
        False,  # 1.1 NM apart
    ]
    assert got.tolist() == want
    assert not Eligibility().in_formation(i, j, lat, lon, alt, ve, vn, vu).any()
    av = AirspaceVolumes(eligibility=e)
    assert av.in_formation(i, j, lat, lon, alt, ve, vn, vu).tolist() == want


def test_lookups_are_vectorised_over_many_tracks() -> None:
    """A plain check that large N goes through in one call and agrees with small calls."""
    av = load_volumes(EXAMPLE)
    rng = np.random.default_rng(3)
    n = 20_000
    lat = rng.uniform(48.0, 52.0, n)
    lon = rng.uniform(5.5, 11.5, n)
    alt = rng.uniform(-500.0, 21_000.0, n)
    whole = av.volume_of(lat, lon, alt)
    cuts = range(997, n, 997)
    parts = [
        av.volume_of(*c) for c in zip(*(np.split(x, cuts) for x in (lat, lon, alt)), strict=True)
    ]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    assert {-1, 0, 1} <= set(whole.tolist())
    inh = av.inhibited(lat, lon, alt)
    assert 0 < inh.sum() < n
