"""The user documentation (``*.md``), shipped as package data of ``radsurvey.docs``.

So that an installed radsurvey (from a wheel or PyPI, without a checkout) still
has it: ``systemd/install.sh`` copies it to ``/opt/radsurvey/docs``, where the
unit's ``Documentation=`` points. Find it with ``radsurvey.systemd.docs_dir()``.
"""
