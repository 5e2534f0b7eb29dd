from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed names once `collectstatic` has written its manifest; plain names before.

    A fresh checkout started with DEBUG=0 and no `collectstatic` would otherwise answer 500 on
    every page that links a static file (Swagger UI at /api/docs/, the admin); whitenoise then
    serves the files straight from the apps (WHITENOISE_USE_FINDERS in settings).
    """

    def stored_name(self, name):
        if not self.hashed_files:
            return name
        return super().stored_name(name)
