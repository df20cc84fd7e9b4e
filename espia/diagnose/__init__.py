"""Diagnoses: a gadget watched for a while, then what it saw, summed up in plain words.

- :mod:`espia.diagnose.dns`: DNS trouble per client (pod, container, process);
- :mod:`espia.diagnose.text`: a report as a terminal shows it.
"""
