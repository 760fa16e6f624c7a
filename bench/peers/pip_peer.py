"""Point-in-grid with the peers: shapely 2 STRtree and geopandas sjoin,
on the files linli-bench wrote (grids.wkt, points.csv). Prints JSON."""
import json
import sys
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

folder, repeat = sys.argv[1], int(sys.argv[2])
ids, wkts = [], []
with open(f"{folder}/grids.wkt", encoding="utf-8") as f:
    for line in f:
        i, w = line.rstrip("\n").split("\t")
        ids.append(int(i))
        wkts.append(w)
polys = shapely.from_wkt(wkts)
pts_df = pd.read_csv(f"{folder}/points.csv")
points = shapely.points(pts_df["x"].to_numpy(), pts_df["y"].to_numpy())


def best(fn):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def strtree():
    tree = shapely.STRtree(polys)
    return tree.query(points, predicate="intersects")


def strtree_query_only(tree):
    return tree.query(points, predicate="intersects")


s_all, pairs = best(strtree)
tree = shapely.STRtree(polys)
s_query, _ = best(lambda: strtree_query_only(tree))
matched_strtree = int(np.unique(pairs[0]).size)

gpolys = gpd.GeoDataFrame({"grid": ids}, geometry=polys, crs="EPSG:4326")
gpoints = gpd.GeoDataFrame(geometry=points, crs="EPSG:4326")
s_sjoin, joined = best(lambda: gpd.sjoin(gpoints, gpolys, how="inner", predicate="intersects"))
matched_sjoin = int(joined.index.unique().size)

print(json.dumps({
    "shapely_version": shapely.__version__,
    "geopandas_version": gpd.__version__,
    "strtree_build_and_query_s": s_all,
    "strtree_query_s": s_query,
    "sjoin_s": s_sjoin,
    "matched_strtree": matched_strtree,
    "matched_sjoin": matched_sjoin,
}))
