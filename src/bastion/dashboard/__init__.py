"""The operator dashboard at ``/ui/``, served by the gateway itself.

Server-rendered pages (:mod:`.pages`, :mod:`.pages_keys`, :mod:`.pages_review`,
:mod:`.pages_reports`) over the same functions the admin API serves, sign-in and
CSRF in :mod:`.session`, the routes and their guard in :mod:`.routes`, and one
stylesheet and one chart script in ``static/`` (no build step, no CDN).
"""
