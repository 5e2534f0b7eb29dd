"""Who may call the API (CONTRACT.md, Conventions, Auth): the one place the rule lives.

Every endpoint but health needs an authenticated user; reads need the model's `view_*`
permission, writes the matching `add_*` / `change_*` / `delete_*` — an authenticated user
without it gets 403. An endpoint that reads or writes more than one model adds the other
models' permissions with `requires(...)`.
"""

from rest_framework import permissions

VIEW = "%(app_label)s.view_%(model_name)s"


class ModelPermissions(permissions.DjangoModelPermissions):
    """DRF's model permissions with reads included: GET and HEAD need `view_<model>`.

    OPTIONS (the schema of a form, no data) needs only authentication."""

    perms_map = {**permissions.DjangoModelPermissions.perms_map, "GET": [VIEW], "HEAD": [VIEW]}


def requires(*perms: str, methods=None, when=None) -> type[permissions.BasePermission]:
    """A permission class that also needs every one of `perms` (for `methods`, default all;
    only when `when(request, view)` is true, if given)."""

    class Requires(permissions.BasePermission):
        message = f"This needs the permission(s) {', '.join(perms)}."

        def has_permission(self, request, view):
            if methods is not None and request.method not in methods:
                return True
            if when is not None and not when(request, view):
                return True
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    Requires.__name__ = Requires.__qualname__ = "Requires(" + ", ".join(perms) + ")"
    return Requires


READS = ("GET", "HEAD")
