"""The admins' quality report (``/report``, ``nik report``)."""
