"""Batch point-in-grid end to end with geopandas, as an analyst would do
it: read the grids and the points CSV, spatial join, write the points with
their grid to a CSV. The same files as `linli locate --input`. The wall
time and memory are the whole process's (bench/measure.py)."""
import json
import sys

import geopandas as gpd
import pandas as pd
import shapely
import shapely.geometry

folder = sys.argv[1]
with open(f"{folder}/grids.geojson", encoding="utf-8") as f:
    fc = json.load(f)
grids = gpd.GeoDataFrame(
    {"code": [x["properties"]["code"] for x in fc["features"]], "name": [x["properties"]["name"] for x in fc["features"]]},
    geometry=[shapely.geometry.shape(x["geometry"]) for x in fc["features"]], crs="EPSG:4326")
pts = pd.read_csv(f"{folder}/points.csv")
points = gpd.GeoDataFrame(pts, geometry=shapely.points(pts["x"].to_numpy(), pts["y"].to_numpy()), crs="EPSG:4326")
joined = gpd.sjoin(points, grids[["code", "name", "geometry"]], how="left", predicate="intersects")
# A point on an edge joins both grids; keep one row per point.
joined = joined[~joined.index.duplicated(keep="first")]
joined.drop(columns=["geometry", "index_right"]).rename(columns={"code": "grid_code", "name": "grid_name"}).to_csv(
    f"{folder}/located_peer.csv", index=False)
print(json.dumps({"geopandas_version": gpd.__version__, "points": len(pts), "located": int(joined["code"].notna().sum())}))
