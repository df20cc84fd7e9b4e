"""The C part of espia: the JSON line renderer (espia/output/_jsonfmt.c).

Everything else is in pyproject.toml; setuptools reads this for the extension only.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("espia.output._jsonfmt", ["espia/output/_jsonfmt.c"])])
