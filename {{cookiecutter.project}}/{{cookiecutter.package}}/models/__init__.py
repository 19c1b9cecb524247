"""Models: every module in this package is imported here, so Flask-Migrate sees it.

Add a model by adding a module (``models/invoice.py``); nothing else has to
import it for ``flask db migrate`` to find it.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
