"""Reads the benchmark's ledger with pandas, the tool an analyst would
reach for: the .xlsx (openpyxl, the two header rows under the title) and
the GBK CSV. Reading only: pandas neither checks nor normalises nor
writes, so this is the floor of what parsing the same file costs.
Prints one JSON object."""
import json
import sys
import time

import pandas as pd

folder = sys.argv[1]
t = time.perf_counter()
x = pd.read_excel(f"{folder}/ledger.xlsx", header=[2, 3], dtype=str)
xlsx_s = time.perf_counter() - t
t = time.perf_counter()
c = pd.read_csv(f"{folder}/ledger.csv", encoding="gbk", skiprows=1, dtype=str)
csv_s = time.perf_counter() - t
print(json.dumps({"pandas_version": pd.__version__, "xlsx_read_s": xlsx_s, "xlsx_rows": len(x),
                  "csv_read_s": csv_s, "csv_rows": len(c)}))
