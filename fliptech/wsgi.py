import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")
application = get_wsgi_application()

# The open pixel and click redirect skip the middleware stack (see tracking/fastpath.py).
from tracking.fastpath import wrap  # noqa: E402

application = wrap(application)
