"""PyInstaller runtime hook of the MedRDF Viewer bundle: runs before the entry script, inside the bundle only.

Why: the bundle leaves out torch's compiler stack (triton, ~0.9 GB) and all matplotlib
backends but Agg, QtAgg and PDF (build_app.spec). These settings make any code path that would still reach for
them degrade to the plain behaviour instead of failing with an ImportError in front of a user.
"""

import os

# torch.compile becomes a no-op (eager execution) instead of importing the excluded inductor/triton.
os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")
# pyplot's automatic backend search would probe toolkits that are not bundled; Agg is always there.
os.environ.setdefault("MPLBACKEND", "Agg")
