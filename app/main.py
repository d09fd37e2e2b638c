"""Dashboard entry: `streamlit run app/main.py` (or `make run`). Sets up navigation only.

Pages live in app/views/ (thin: widgets -> a core config -> one core call -> plots.py figures).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Idle OpenMP workers sleep instead of spinning: on a 2-core machine a training job's spinning
# threads would otherwise starve the web server (and each other). Must precede `import torch`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so pages can `import core` and `import app`
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

# A local favicon: a Material icon as page_icon is fetched from a font CDN, so offline the tab had none.
st.set_page_config(page_title="Tunable sensitivity lab", page_icon=str(ROOT / "assets" / "favicon.png"), layout="wide")

VIEWS = ROOT / "app" / "views"
PAGES = [  # the default page is served at "/" whatever its url_path; "/overview" is the alias below
    st.Page(VIEWS / "overview.py", title="Overview", icon=":material/home:", url_path="home", default=True),
    st.Page(VIEWS / "playground.py", title="Playground", icon=":material/play_circle:", url_path="playground"),
    st.Page(VIEWS / "sensitivity.py", title="Sensitivity curves", icon=":material/show_chart:", url_path="sensitivity"),
]
for name, title, icon in (
    ("toy", "Toy experiment", ":material/target:"),
    ("mnist", "MNIST runs", ":material/grid_view:"),
    ("noise", "Label noise", ":material/blur_on:"),
    ("datamap", "Example lens", ":material/image_search:"),
    ("paper", "Paper tables", ":material/table:"),
):
    if (VIEWS / f"{name}.py").exists():
        PAGES.append(st.Page(VIEWS / f"{name}.py", title=title, icon=icon, url_path=name))


def _overview_alias() -> None:
    """/overview (the Overview's name in links and bookmarks) opens the Overview at "/"."""
    st.switch_page(PAGES[0])


from app.state import lab_problem, remember_owner  # noqa: E402

page = st.navigation(PAGES + [st.Page(_overview_alias, title="Overview", url_path="overview", visibility="hidden")])
remember_owner()
problem = lab_problem()
if problem:  # an unusable run database: say which file and what to do, on every page, instead of failing
    st.error(problem, icon=":material/database:")
    st.stop()
st.sidebar.caption("Keren, Sabato & Schuller, *Tunable sensitivity to large errors in neural network training*, AAAI 2017.")
page.run()
